"""MGX's side of the apps gateway: who may open an app's dev preview.

Dev previews are private to the app's owner and MGX's admins. nginx (lua/mgx_gateway.lua) asks
this process on a cache miss, over a Unix socket only nginx's workers may open, one line each
way:

    AUTH <slug> <session key or ->\\n   ->   <ok|login|denied> <access token id or ->\\n
    APP <slug>\\n                       ->   <yes|no>\\n
    PING\\n                             ->   PONG\\n

`APP`: whether such an app exists, asked only when a production URL has no route, so an app
nobody made is "not found" (404) and one not deployed yet is "not deployed" (502).

`login`: nobody is logged in (or the login's token was revoked or has expired: MGX's login
page sends its owner straight back); `denied`: logged in, but not theirs, or no such app. The
gateway caches the answer for MGX_GATEWAY_AUTH_TTL; every logout and token revocation
(deployments.apps -> builtin.auth_invalidate) voids what it cached before MGX answers it.

    python -m deployments.gateway.authd --socket <path>

`./mgx up` and the tests start it (mgx_site.cli.procs) beside nginx. It reads sessions and
tokens through the ORM and logs no session key.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import stat
import sys
from pathlib import Path

import django

# Its own process: Django is set up before MGX's models are imported (as Daphne's and Celery's
# entry points do).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mgx_site.settings.base")
django.setup()

from channels.db import database_sync_to_async  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402

from accounts.selectors import login_token  # noqa: E402
from sessions_app.models import App  # noqa: E402

SLUG = re.compile(r"[a-z0-9-]+")
SESSION_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,256}")
LINE_MAX = 1024

log = logging.getLogger("mgx.gateway.authd")


def decide(session_key: str, slug: str) -> tuple[str, int | None]:
    """'ok', 'login' (nobody logged in) or 'denied' (logged in, not theirs, or no such app),
    with the id of the access token the session's login holds."""
    session = SessionStore(session_key=session_key) if session_key else {}
    user_id = session.get("_auth_user_id")
    if not user_id:
        return "login", None
    # A login through the provider binds a token to the login session; once it is revoked
    # (logout elsewhere, an admin) or expired, the login session no longer opens previews. MGX's
    # own pages refresh an expired token, so the login page sends the owner straight back here.
    bound = login_token(session=session, user_id=user_id)
    if bound.state not in ("unbound", "live"):
        return "login", bound.token_id
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    app = App.objects.filter(slug=slug).first()
    return ("ok" if (user and app and app.can_be_used_by(user)) else "denied"), bound.token_id


async_decide = database_sync_to_async(decide)


@database_sync_to_async
def app_exists(slug: str) -> bool:
    return App.objects.filter(slug=slug).exists()


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            line = await reader.readline()
            if not line or not line.endswith(b"\n") or len(line) > LINE_MAX:
                return
            parts = line.decode("ascii", "replace").split()
            if parts == ["PING"]:
                writer.write(b"PONG\n")
            elif len(parts) == 3 and parts[0] == "AUTH" and SLUG.fullmatch(parts[1]):
                key = parts[2] if parts[2] != "-" and SESSION_KEY.fullmatch(parts[2]) else ""
                try:
                    verdict, token_id = await async_decide(key, parts[1])
                except Exception as exc:  # the database away: the gateway says MGX does not answer
                    log.error("access check for %s failed: %s", parts[1], type(exc).__name__)  # no key logged
                    return
                writer.write(f"{verdict} {'-' if token_id is None else token_id}\n".encode())
            elif len(parts) == 2 and parts[0] == "APP" and SLUG.fullmatch(parts[1]):
                try:
                    known = await app_exists(parts[1])
                except Exception as exc:  # the database away: the gateway keeps its 502
                    log.error("app lookup for %s failed: %s", parts[1], type(exc).__name__)
                    return
                writer.write(b"yes\n" if known else b"no\n")
            else:
                return  # not the protocol: hang up
            await writer.drain()
    except (ConnectionError, asyncio.LimitOverrunError, ValueError):
        return
    finally:
        writer.close()


def _own_directory(path: Path) -> None:
    """The socket's directory: made by us, ours, and writable by nobody else (in /tmp another
    user could have made it first)."""
    path.mkdir(mode=0o755 if os.geteuid() == 0 else 0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise SystemExit(f"apps gateway access check: {path} is not a directory of this user's that only it may write to")


def _open_socket(path: Path) -> None:
    """After the bind: only nginx's workers (and this user) may connect."""
    if os.geteuid() == 0:
        import pwd

        gid = pwd.getpwnam(settings.MGX_GATEWAY_USER).pw_gid
        os.chown(path, 0, gid)
        os.chmod(path, 0o660)
    else:
        os.chmod(path, 0o600)


async def serve(path: Path) -> None:
    _own_directory(path.parent)
    if path.is_socket() or path.exists():
        path.unlink()  # a socket left behind by a process that died (procs checked none runs)
    server = await asyncio.start_unix_server(_serve_connection, path=str(path), limit=LINE_MAX)
    _open_socket(path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"apps gateway access check: listening on {path}", flush=True)
    async with server:
        await stop.wait()
    path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployments.gateway.authd")
    parser.add_argument("--socket", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args.socket))
    return 0


if __name__ == "__main__":
    sys.exit(main())
