"""The apps gateway's data path: Debian's nginx with its Lua module, configured by MGX.

nginx forwards (bodies streamed both ways, keepalive to the containers, websockets); the Lua
module (`lua/mgx_gateway.lua`) makes the per-request decisions MGX's Python gateway made: the
route table from Redis (pushed changes, as before), the dev-preview check (MGX decides in
`authd.py`; the decision is cached in nginx, and every logout or revocation drops it before MGX
answers it: builtin.auth_invalidate), and
MGX's credentials taken out of requests and responses. No route is ever written into the
configuration, so a route change needs no reload and an app's name never reaches nginx's
configuration language.

`./mgx up` and the tests start it through `mgx_site.cli.procs`:

    python -m deployments.gateway.nginx --conf <dir>/nginx.conf --listen 127.0.0.1:8080 --auth-socket <path>

which writes `nginx.conf` and `gateway.json` (the settings the Lua module reads, mode 0600:
they hold the Redis password) into the configuration's directory, then becomes
`nginx -p <dir> -c <dir>/nginx.conf -g 'daemon off;'` (exec: same pid, in the foreground,
logging to its output). Run as root, nginx's workers drop to MGX_GATEWAY_USER.
"""
from __future__ import annotations

import argparse
import html
import ipaddress
import json
import os
import re
import shutil
import socket
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

NGINX = "nginx"
MODULES = Path("/usr/lib/nginx/modules")
LUA_DIR = Path(__file__).resolve().parent / "lua"
PACKAGES = "nginx libnginx-mod-http-lua lua-cjson"

# Characters a path or address in the configuration may not hold: quotes and backslashes would
# end nginx's or Lua's string, `$` starts an nginx variable, `;` and `?` mean something in Lua's
# search path, braces and control characters end blocks and lines.
_UNSAFE = re.compile(r"[\"'\\$;?{}\x00-\x1f\x7f]")


class ConfigError(Exception):
    """The gateway cannot be configured; the message says why and what to change."""


def safe(value: str, what: str) -> str:
    """`value` as it may appear inside a double-quoted nginx string (and a Lua one)."""
    text = str(value)
    if _UNSAFE.search(text):
        raise ConfigError(f"{what} {text!r} holds a character the gateway's nginx configuration cannot carry "
                          "(quotes, backslash, $, ;, ?, braces or control characters): choose another")
    return text


def listen_address(host: str, port: int) -> str:
    """nginx's `listen` for MGX_APPS_HOST:MGX_APPS_PORT (a name is looked up once, here)."""
    host = host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.ip_address(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])
        except (OSError, IndexError, ValueError):
            raise ConfigError(f"MGX_APPS_HOST {host!r} is not an address, and looking it up failed") from None
    if not 0 < int(port) < 65536:
        raise ConfigError(f"MGX_APPS_PORT {port} is not a port")
    return f"[{address}]:{int(port)}" if address.version == 6 else f"{address}:{int(port)}"


def redis_target(url: str) -> dict:
    """MGX_REDIS_URL as the Lua module connects to it (host, port, db, username, password)."""
    parts = urlsplit(url)
    if parts.scheme != "redis":
        raise ConfigError(f"the apps gateway speaks plain redis:// only, not {parts.scheme}:// (MGX_REDIS_URL)")
    host = parts.hostname or "127.0.0.1"
    if host == "localhost":
        host = "127.0.0.1"
    path = parts.path.strip("/")
    db = int(path) if path.isdigit() else 0
    return {"host": safe(host, "the Redis host"), "port": parts.port or 6379, "db": db,
            "username": unquote(parts.username or ""), "password": unquote(parts.password or "")}


def _needs_resolver(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        return True


def _resolver() -> str:
    """The first name server of /etc/resolv.conf: nginx looks names up only through one."""
    try:
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "nameserver":
                address = ipaddress.ip_address(fields[1].split("%")[0])
                return f"[{address}]" if address.version == 6 else str(address)
    except (OSError, ValueError):
        pass
    raise ConfigError("MGX_REDIS_URL names a host, and /etc/resolv.conf names no server to look it up: use an address")


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} · MGX</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;background:#f6f7f9;color:#1c2230;display:grid;place-items:center;min-height:90vh;margin:0}}
.card{{background:#fff;border:1px solid #e3e6eb;border-radius:12px;padding:32px 36px;max-width:520px;box-shadow:0 1px 3px rgba(16,24,40,.08)}}
h1{{font-size:20px;margin:0 0 8px}}p{{color:#4b5563}}a.btn{{display:inline-block;background:#4f46e5;color:#fff;padding:9px 16px;border-radius:8px;text-decoration:none;font-weight:600}}
code{{background:#f0f1f4;padding:1px 5px;border-radius:4px}}</style></head><body><div class="card">{body}</div></body></html>"""


def pages(*, public_url: str) -> dict[str, str]:
    """The gateway's own pages. `__SLUG__` is an app's slug (only [a-z0-9-] reaches it),
    `__TARGET__` the HTML-escaped login address, both filled in by the Lua module."""
    public = html.escape(public_url)

    def page(title, body):
        return _PAGE.format(title=html.escape(title), body=body)

    return {
        "not_found": page("Not found", "<h1>Not found</h1><p>Apps live under <code>/apps/&lt;name&gt;/dev/</code> "
                                       "and <code>/prod/</code>.</p>"),
        "denied": page("Not found", "<h1>Not found</h1><p>There is no such app, or it is not yours.</p>"),
        "dev_not_running": page("Not running", (
            "<h1>The dev server of <code>__SLUG__</code> is not running</h1>"
            "<p>Start it from the session page; the preview appears here once it is ready.</p>"
            f'<p><a class="btn" href="{public}/sessions/__SLUG__/?tab=dev" target="_top">Open __SLUG__ and start it</a></p>')),
        "prod_not_running": page("Not running", (
            "<h1><code>__SLUG__</code> is not deployed</h1>"
            "<p>There is no production release running for this app right now.</p>")),
        "login": page("Log in", '<p><a href="__TARGET__">Log in</a></p>'),
        "unavailable": page("Unavailable", "<h1>MGX does not answer</h1><p>Dev previews are opened only for their "
                                           "owner, and MGX, which says who that is, did not answer. Try again in a "
                                           "moment.</p>"),
    }


def lua_settings(*, auth_socket: str) -> dict:
    """What the Lua module reads at start (gateway.json), from MGX's settings."""
    from django.conf import settings

    from .builtin import AUTH_ACK_KEY, AUTH_CHANNEL, CHANGED_CHANNEL, ROUTES_KEY, SEEN_EVERY, SEEN_KEY, WS_MAX_MESSAGE

    for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ConfigError(f"cookie name {name!r}: the gateway strips MGX's cookies by name and needs a plain one")
    return {
        "redis": redis_target(settings.MGX_REDIS_URL),
        "keys": {"routes": ROUTES_KEY, "changed": CHANGED_CHANNEL, "auth": AUTH_CHANNEL, "auth_ack": AUTH_ACK_KEY,
                 "seen": SEEN_KEY.format(slug="")},
        "cookies": [settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME],
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "client_id": settings.MGX_FIRST_PARTY_CLIENT_ID,
        "mgx_origin": settings.MGX_ORIGIN,
        "apps_url": settings.MGX_APPS_URL,
        "login_url": f"{settings.MGX_PUBLIC_URL}/accounts/login/",
        "auth_socket": "unix:" + safe(auth_socket, "the access check's socket"),
        "auth_ttl": float(settings.MGX_GATEWAY_AUTH_TTL),
        "seen_every": SEEN_EVERY,
        "ws_max_message": WS_MAX_MESSAGE,
        "pages": pages(public_url=settings.MGX_PUBLIC_URL),
    }


def _common(prefix: Path, *, workers: str, user: str | None) -> str:
    """The top of both configurations (MGX's gateway and the bench's plain reference)."""
    p = safe(prefix, "the gateway's directory")
    user_line = f"user {safe(user, 'MGX_GATEWAY_USER')};\n" if user else ""
    if not re.fullmatch(r"auto|[1-9][0-9]?", workers):
        raise ConfigError(f"MGX_GATEWAY_WORKERS {workers!r}: 'auto' or a number of processes")
    return f"""{user_line}worker_processes {workers};
pid "{p}/nginx.pid";
error_log stderr crit;  # its error lines name the request, query string included: only what is critical
pcre_jit on;
events {{ worker_connections 4096; }}
"""


def _temp_paths(prefix: Path) -> str:
    p = safe(prefix, "the gateway's directory")
    return "\n".join(f'    {name}_temp_path "{p}/tmp/{name}";'
                     for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


# What both app locations (dev and prod) do once the Lua module has picked the container.
_PROXY = """            proxy_pass http://mgx_app;  # the URI as the browser sent it: the prefix is kept
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $mgx_proto;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_request_buffering off;  # bodies stream both ways, at the slower side's pace
            proxy_buffering off;
            proxy_buffer_size 32k;  # an app's response headers, then each piece of its body
            proxy_buffers 4 32k;
            proxy_busy_buffers_size 64k;
            proxy_redirect off;
            proxy_connect_timeout 5s;
            proxy_send_timeout 1d;
            proxy_read_timeout 1d;
            proxy_pass_header Server;
            # An app's answer never steers nginx: no internal redirect to MGX's or another
            # app's location, no rate or buffering change.
            proxy_ignore_headers X-Accel-Redirect X-Accel-Expires X-Accel-Limit-Rate X-Accel-Buffering X-Accel-Charset;
            error_page 502 503 504 = @mgx_unavailable;"""


def render(*, prefix: Path, listen: str, settings_file: Path, proxy_headers: bool, workers: str = "auto",
           user: str | None = None, redis_host: str = "127.0.0.1") -> str:
    """nginx.conf for MGX's apps gateway. Nothing in it comes from an app: routes and names stay
    in Redis and in the Lua module's tables."""
    modules = "\n".join(f'load_module "{safe(MODULES / name, "nginx module")}";'
                        for name in ("ndk_http_module.so", "ngx_http_lua_module.so"))
    lua = safe(LUA_DIR, "the gateway's Lua directory")
    json_path = safe(settings_file, "the gateway's settings file")
    resolver = f"    resolver {_resolver()} ipv6=off valid=30s;\n" if _needs_resolver(redis_host) else ""
    if proxy_headers:
        # Behind MGX_PROXY_HEADERS' proxy: the client is the one it names, and so is the scheme.
        client = """    set_real_ip_from 0.0.0.0/0;
    set_real_ip_from ::/0;
    real_ip_header X-Forwarded-For;
    real_ip_recursive on;
    map $http_x_forwarded_proto $mgx_proto { default http; "~*^\\s*(https|wss)" https; }
"""
    else:
        client = "    map $scheme $mgx_proto { default $scheme; }\n"
    return f"""# The apps gateway (MGX_APPS_URL), written by deployments/gateway/nginx.py at every start:
# edits here are lost. Routes are not in this file: they are read from Redis by lua/mgx_gateway.lua.
{modules}
{_common(prefix, workers=workers, user=user)}
http {{
    access_log off;
    server_tokens off;
    lua_socket_log_errors off;
{_temp_paths(prefix)}
    lua_package_path "{lua}/?.lua;;";
    lua_shared_dict mgx_auth 16m;  # dev-preview decisions (session hash and app -> verdict)
    lua_shared_dict mgx_gen 64k;  # their generation: one key, never evicted
{resolver}    init_by_lua_block {{
        require("resty.core")
        require("mgx_gateway").init("{json_path}")
    }}
    init_worker_by_lua_block {{ require("mgx_gateway").init_worker() }}

{client}
    upstream mgx_app {{
        server 0.0.0.1;  # never used: the balancer sets the route's container
        balancer_by_lua_block {{ require("mgx_gateway").balance() }}
        keepalive 256;
        keepalive_timeout 4s;  # under the 5 s after which Node's and uvicorn's servers close
        keepalive_requests 10000;
    }}

    server {{
        listen {listen} backlog=4096;
        server_name _;
        client_max_body_size 0;  # apps decide
        large_client_header_buffers 4 32k;
        reset_timedout_connection on;
        set $mgx_upstream "";

        location ~ ^/apps/(?<mgx_slug>[a-z0-9-]+)/prod(?:/|$) {{
            access_by_lua_block {{ require("mgx_gateway").prod() }}
            header_filter_by_lua_block {{ require("mgx_gateway").prod_headers() }}
{_PROXY}
        }}
        location ~ ^/apps/(?<mgx_slug>[a-z0-9-]+)/dev(?:/|$) {{
            access_by_lua_block {{ require("mgx_gateway").dev() }}
            header_filter_by_lua_block {{ require("mgx_gateway").dev_headers() }}
            proxy_hide_header X-Frame-Options;  # dev pages are framed by MGX's (dev_headers: CSP)
{_PROXY}
        }}
        location @mgx_websocket {{
            content_by_lua_block {{ require("mgx_gateway").websocket() }}
        }}
        location @mgx_unavailable {{
            content_by_lua_block {{ require("mgx_gateway").unavailable() }}
        }}
        location / {{
            content_by_lua_block {{ require("mgx_gateway").not_found() }}
        }}
    }}
}}
"""


def render_reference(*, prefix: Path, listen: str, upstream: str, workers: str = "auto",
                     user: str | None = None) -> str:
    """Plain nginx in front of one upstream, as anyone would write it (keepalive, HTTP/1.1, no
    buffering either way, as the gateway): the reference bench/gateway.py measures against."""
    from . import upstream_address

    host, port = upstream_address(upstream)
    server = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"""{_common(prefix, workers=workers, user=user)}
http {{
    access_log off;
{_temp_paths(prefix)}
    upstream app {{ server {server}; keepalive 256; keepalive_timeout 4s; keepalive_requests 10000; }}
    server {{
        listen {listen} backlog=4096;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_buffer_size 32k;
            proxy_buffers 4 32k;
            proxy_busy_buffers_size 64k;
        }}
    }}
}}
"""


def worker_user() -> str | None:
    """The unprivileged user nginx's workers run as when MGX runs as root (None otherwise)."""
    if os.geteuid() != 0:
        return None
    from django.conf import settings

    import pwd

    name = settings.MGX_GATEWAY_USER
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise ConfigError(f"MGX_GATEWAY_USER {name!r} does not exist on this machine (Debian's nginx makes www-data)") from None
    return name


def nginx_binary() -> str:
    found = shutil.which(NGINX) or shutil.which(NGINX, path="/usr/sbin:/sbin")
    if not found or not (MODULES / "ngx_http_lua_module.so").exists():
        raise ConfigError(f"nginx with its Lua module is not installed (Debian: apt-get install {PACKAGES})")
    return found


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner reads (nginx's master reads it before it drops privileges)."""
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def prepare(*, conf: Path, listen: str, auth_socket: str, proxy_headers: bool) -> list[str]:
    """Write the configuration and the Lua module's settings; returns nginx's command line."""
    from django.conf import settings

    binary = nginx_binary()
    prefix = conf.parent
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "tmp").mkdir(exist_ok=True)
    values = lua_settings(auth_socket=auth_socket)
    settings_file = prefix / "gateway.json"
    write_private(settings_file, json.dumps(values))
    write_private(conf, render(prefix=prefix, listen=listen, settings_file=settings_file, proxy_headers=proxy_headers,
                               workers=str(settings.MGX_GATEWAY_WORKERS), user=worker_user(),
                               redis_host=values["redis"]["host"]))
    return [binary, "-p", f"{prefix}/", "-c", str(conf), "-e", "stderr", "-g", "daemon off;"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployments.gateway.nginx", description=__doc__.split("\n\n")[0])
    parser.add_argument("--conf", required=True, type=Path, help="where to write nginx.conf (its directory is nginx's prefix)")
    parser.add_argument("--listen", required=True, help="host:port of the apps origin")
    parser.add_argument("--auth-socket", required=True, help="the Unix socket of MGX's access check (authd.py)")
    parser.add_argument("--proxy-headers", action="store_true", help="trust X-Forwarded-For/-Proto (MGX_PROXY_HEADERS)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mgx_site.settings.base")
    host, _, port = args.listen.rpartition(":")
    try:
        command = prepare(conf=args.conf.resolve(), listen=listen_address(host, int(port)), auth_socket=args.auth_socket,
                          proxy_headers=args.proxy_headers)
    except (ConfigError, ValueError) as exc:
        print(f"apps gateway: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"apps gateway: nginx on {args.listen}, configuration {args.conf.resolve()}", flush=True)
    os.execv(command[0], command)  # nginx takes this process's place (and pid)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
