"""The app's health while its dev server runs: a container can run while the app in it is broken.

Every few seconds (Celery beat, MGX_DEV_HEALTH_INTERVAL) each ready dev server is checked the way
a person would notice it broke:

- its pages are asked for (the framework's health path and its home page, `probe_paths`): a dev
  server compiles a page when it is asked for, so a page that does not compile, or a backend
  that crashed behind the dev server's proxy, answers 5xx or nothing;
- its output since the last check is read for the framework's error lines (a compile error, a
  traceback) and recovery lines (compiled again, a hot update, the backend started again),
  `error_lines`/`recovered_lines` of its descriptor (containers.frameworks); they give the
  error's words and, when they name one, its file;
- what the preview's own page reported (an uncaught error or a failed request, sent by the
  template's dev-only script through MGX's page: `dev_page_report`) counts until the page
  reports a clean load.

The result is the row's `health` ("ok" or "error") and `error` (its first lines), announced with
the dev status like every change, so the Dev tab, the session's header and the dashboard turn
red, and green again once the error is gone. A container that exited is the end of the dev
server: the row says so, as a failed boot does.
"""
from __future__ import annotations

import re
import time

import docker
import requests
from django.utils import timezone

from containers.docker_client import DockerUnavailable, client, container_name
from containers.frameworks import framework

from .gateway import gateway, route_id
from .models import DevEnvironment
from .services import _save

Phase = DevEnvironment.Phase
ERROR_LINES = 14  # of the output around an error, kept as its text
ERROR_CHARS = 2000
PROBE_TIMEOUT = 10  # seconds: a first compile of a page takes a while
NOT_ANSWERING = "The app did not answer"  # how an error found by asking for a page begins
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# A source file named in an error line: "./app/page.tsx:5:1", "/src/App.jsx:12:3",
# 'File "/workspace/backend/app/main.py", line 12'.
_FILE = re.compile(r'(?:File "(?P<py>/workspace/[^"]+)", line (?P<pyline>\d+))'
                   r"|(?P<js>(?:\./|/src/|/workspace/)[\w./@-]+\.(?:tsx?|jsx?|mjs|cjs|css|py|vue))(?::(?P<jsline>\d+))?")


def dev_health_check(*, now: float | None = None) -> dict[str, str]:
    """Check every ready dev server of this MGX; {slug: "ok" | "error" | "stopped"}."""
    now = now or time.time()
    found = {}
    for dev in DevEnvironment.objects.filter(phase=Phase.READY).select_related("app"):
        try:
            found[dev.app.slug] = _check(dev, now)
        except DockerUnavailable:
            break  # the engine is away: nothing can be told about any of them now
    return found


def _check(dev: DevEnvironment, now: float) -> str:
    described = framework(dev.app.framework)
    try:
        container = client().containers.get(dev.container_id or container_name(slug=dev.app.slug, role="dev"))
    except docker.errors.NotFound:
        return dev.health or "ok"  # removed meanwhile: the stop or the reconcile says so
    if container.status not in ("running", "paused"):
        code = container.attrs.get("State", {}).get("ExitCode")
        tail = container.logs(tail=40).decode(errors="replace")
        gateway().delete_route(route_id(slug=dev.app.slug, stage="dev"))
        _save(dev, phase=Phase.FAILED, message=f"The dev server stopped (exit code {code}); start it again.",
              last_log=_ANSI.sub("", tail), health="", error="", page_error="")
        return "stopped"
    if container.status == "paused":
        return dev.health or "ok"
    since = dev.logs_read_to or (dev.ready_at.timestamp() if dev.ready_at else now - 60)
    lines = _ANSI.sub("", container.logs(since=int(since), until=int(now) + 1).decode(errors="replace")).splitlines()
    found_error, recovered = _scan(lines, described)
    problem = _probe(dev, described)

    if problem:
        health, error = "error", found_error or (dev.error if dev.health == "error" and not dev.error.startswith(NOT_ANSWERING)
                                                   else "") or problem
    elif dev.page_error:
        health, error = "error", dev.page_error
    elif found_error:
        health, error = "error", found_error
    elif recovered or dev.error.startswith(NOT_ANSWERING) or dev.health != "error":
        health, error = "ok", ""
    else:
        health, error = "error", dev.error  # an error no line has said is over yet
    DevEnvironment.objects.filter(pk=dev.pk).update(logs_read_to=int(now))
    if (health, error) != (dev.health, dev.error):
        _save(dev, health=health, error=error[:ERROR_CHARS],
              error_at=timezone.now() if health == "error" and not dev.error else dev.error_at)
    return health


def _scan(lines: list[str], described) -> tuple[str, bool]:
    """(the newest error with the lines after it, "" if none after the last recovery; whether a
    recovery line is the newest signal)."""
    errors = [re.compile(p) for p in described.error_lines]
    recoveries = [re.compile(p) for p in described.recovered_lines]
    last_error = last_recovery = -1
    for index, line in enumerate(lines):
        if any(p.search(line) for p in recoveries):
            last_recovery = index
        elif any(p.search(line) for p in errors):
            if last_error < 0 or index > last_error + ERROR_LINES:  # the start of a new error
                last_error = index
    if last_error > last_recovery:
        return error_text(lines[last_error:last_error + ERROR_LINES]), False
    return "", last_recovery >= 0


def error_text(lines: list[str]) -> str:
    """An error's lines, with the file they name (when one is named) first."""
    text = "\n".join(line.rstrip() for line in lines if line.strip())[:ERROR_CHARS]
    where = source_of(text)
    return (f"In {where}:\n" if where else "") + text


def source_of(text: str) -> str:
    """The source file (and line) an error names, as `app/page.tsx:5`; "" when it names none."""
    match = _FILE.search(text or "")
    if not match:
        return ""
    path = match["py"] or match["js"]
    line = match["pyline"] or match["jsline"]
    path = path.removeprefix("/workspace/").removeprefix("./").lstrip("/")
    return f"{path}:{line}" if line else path


def _probe(dev: DevEnvironment, described) -> str:
    """"" when every page asked for answers below 500; else what happened, in words."""
    for path in (described.health_path, *described.probe_paths):
        url = f"http://127.0.0.1:{dev.host_port}/apps/{dev.app.slug}/dev/{path}"
        try:
            answer = requests.get(url, timeout=PROBE_TIMEOUT, allow_redirects=False,
                                  headers={"User-Agent": "MGX dev health check"})
        except requests.Timeout:
            continue  # compiling (a first request, a loaded machine): slow is not broken
        except requests.RequestException as exc:
            return f"{NOT_ANSWERING} at /{path} ({type(exc).__name__}: nothing listens there)."
        if answer.status_code >= 500:
            return f"{NOT_ANSWERING} at /{path} with a page: it answered {answer.status_code}."
    return ""


MAX_REPORT = 4000


def dev_page_report(*, app, kind: str, message: str = "", source: str = "", url: str = "") -> DevEnvironment:
    """What the preview's page said about itself (through MGX's page, from the template's dev-only
    script): "error" (an uncaught error or a failed request) turns the app's health red with its
    words, "ok" (a clean load, a hot update applied) clears it. Ignored while no dev server is
    ready."""
    dev = DevEnvironment.objects.filter(app=app).first()
    if dev is None or dev.phase != Phase.READY:
        return dev
    if kind == "ok":
        if dev.page_error:
            remains = dev.error if dev.error != dev.page_error else ""
            return _save(dev, page_error="", health="error" if remains else "ok", error=remains)
        return dev
    text = " ".join((message or "The page threw an error.").split())[:500]
    where = " ".join((source or "").split())[:300] or source_of(message)
    said = f"The page in the preview failed: {text}" + (f"\n  at {where}" if where else "") + (
        f"\n  on {url[:300]}" if url else "")
    return _save(dev, page_error=said[:MAX_REPORT], health="error", error=said[:MAX_REPORT],
                 error_at=dev.error_at if dev.health == "error" else timezone.now())
