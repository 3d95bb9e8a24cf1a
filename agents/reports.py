"""Error reports: what MGX tells the team when a person presses "Fix it" on an error.

Built by MGX, never typed by the person: what failed, the relevant lines (the dev server's
output, the build's, the release's last lines, the failing span with its attributes and
exception, the error log record), the file and line when the error names one, and the request
the person last made of the team, so the engineer can work from it (and read more with its
read_logs/read_traces tools) and QA can check the same signal is green again.

Each report is (title, where, text): the chat shows the title and the file as a compact card,
the team gets the whole text. Every part is untrusted text (the app wrote it), so it goes into
the message fenced (core.markdown) and into the card as text.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.errors import Invalid, NotFound
from core.markdown import md_code, md_code_block
from deployments.dev_health import source_of
from deployments.models import DevEnvironment, Release
from deployments.selectors import build_get, build_log_lines, dev_for_app
from deployments.services import dev_logs
from observability.selectors import log_get, trace_detail

from .selectors import last_request

KINDS = ("dev", "build", "release", "prod", "trace", "log")
LOG_LINES = 40


@dataclass
class Report:
    kind: str
    title: str
    where: str  # the file (and line) the error names, or ""
    text: str  # what the team is sent

    def as_payload(self) -> dict:
        return {"kind": self.kind, "title": self.title, "where": self.where}


def report_for(*, app, kind: str, ref: str = "") -> Report:
    """The report of one error of `app`: the dev server's (no ref), a build's or a release's (its
    id), a live release's errors of the last minutes ("prod", its id), a trace's (its id) or an
    error log record's (its id). Raises Invalid for an unknown kind, NotFound when the error is
    gone or was never there."""
    if kind == "dev":
        return _dev(app)
    if kind == "build":
        return _build(app, ref)
    if kind == "release":
        return _release(app, ref)
    if kind == "prod":
        return _prod(app, ref)
    if kind == "trace":
        return _trace(app, ref)
    if kind == "log":
        return _log(app, ref)
    raise Invalid(f"There is nothing to fix of kind “{kind[:20]}”.", field="kind")


def _compose(*, title: str, what: str, where: str, lines: str, app, checks: str) -> str:
    asked = last_request(session=app.slug)
    parts = [f"**Error report from MGX:** {title}", "", what]
    if where:
        parts += ["", f"Where: {md_code(where)}"]
    if lines.strip():
        parts += ["", md_code_block(lines.strip(), info="text")]
    if asked:
        parts += ["", "The last request you worked on:", md_code_block(asked[:2000], info="text")]
    parts += ["", f"Find the cause, fix it in the code, then check that it is gone: {checks}"]
    return "\n".join(parts)


def _dev(app) -> Report:
    dev = dev_for_app(app=app)
    if dev.phase != DevEnvironment.Phase.READY or dev.health != "error":
        raise NotFound("The dev server has no error now: nothing to fix.")
    where = source_of(dev.error)
    title = "the app in the dev server is broken" + (f" ({where})" if where else "")
    tail = "\n".join(dev_logs(app=app, lines=LOG_LINES).splitlines()[-LOG_LINES:])
    text = _compose(title=title, app=app, where=where,
                    what="MGX's health check of the dev server says:\n" + md_code_block(dev.error, info="text"),
                    lines="The dev server's last lines:\n" + tail,
                    checks="the dev server's health (the dev_status tool) is ok again and the preview renders.")
    return Report("dev", title, where, text)


def _build(app, ref: str) -> Report:
    build = build_get(app=app, build_id=_number(ref))
    if build.status != "failed":
        raise NotFound(f"Build #{build.number} did not fail: nothing to fix.")
    lines = "\n".join(build_log_lines(build=build, limit=LOG_LINES))
    where = source_of(build.message) or source_of(lines)
    title = f"production build #{build.number} failed"
    text = _compose(title=title, app=app, where=where, what=build.message, lines=lines,
                    checks="the same production build steps succeed (run the build commands of the Dockerfile "
                           "in the dev container) and the dev server is still healthy.")
    return Report("build", title, where, text)


def _release(app, ref: str) -> Report:
    release = Release.objects.filter(app=app, pk=_number(ref)).select_related("build").first()
    if release is None:
        raise NotFound("No such release of this app.")
    if release.status != Release.Status.FAILED:
        raise NotFound(f"Release #{release.number} did not fail: nothing to fix.")
    where = source_of(release.last_log)
    title = f"release #{release.number} (build #{release.build.number}) did not start"
    text = _compose(title=title, app=app, where=where, what=release.message, lines=release.last_log,
                    checks="the app starts with its production command and answers its health path.")
    return Report("release", title, where, text)


def _prod(app, ref: str) -> Report:
    release = Release.objects.filter(app=app, pk=_number(ref)).first()
    if release is None:
        raise NotFound("No such release of this app.")
    if not release.failing:
        raise NotFound(f"Release #{release.number} has no errors past the threshold now: nothing to fix.")
    found = release.errors
    lines = []
    for trace_id in found.get("traces", [])[:3]:
        detail = trace_detail(app=app.slug, trace_id=trace_id)
        if detail is not None:
            lines.append(f"trace {trace_id} ({detail['root']['name']}, {detail['duration_ms']:.0f} ms):")
            lines.extend("  " + line for line in _trace_lines(detail, spans=3, logs=5))
    for record_id in found.get("logs", [])[:5]:
        record = log_get(app=app.slug, record_id=record_id)
        if record is not None:
            lines.append(f"log {record['severity']}: {record['body'][:1000]}")
    text_lines = "\n".join(lines)
    where = source_of(text_lines)
    title = f"production release #{release.number} is failing: {found.get('count', 0)} errors in {found.get('minutes')} min"
    what = (f"In the last {found.get('minutes')} minutes {found.get('failing', 0)} of {found.get('requests', 0)} requests "
            f"failed and {found.get('error_logs', 0)} other errors were logged. The newest:")
    text = _compose(title=title, app=app, where=where, what=what, lines=text_lines,
                    checks="the same requests succeed in the dev server (read_traces, read_logs) and no error is "
                           "logged; production gets the fix when it is published again.")
    return Report("prod", title, where, text)


def _failing_spans(detail: dict) -> list[dict]:
    """A trace's failing spans, or its root when only its answer (a 5xx) failed."""
    return [s for s in detail["spans"] if s.get("status") == 2] or [detail["root"]]


def _trace_lines(detail: dict, *, spans: int = 5, logs: int = 10) -> list[str]:
    """The failing spans of a trace (or its root), their exceptions and the trace's logs, as lines."""
    lines = []
    for span in _failing_spans(detail)[:spans]:
        attrs = ", ".join(f"{k}={v}" for k, v in span.get("attrs", [])[:15])
        lines.append(f"span {span['name']} ({span.get('status_message') or 'error'}) {attrs}")
        for event in span.get("event_list", [])[:3]:
            ev_attrs = dict(event.get("attrs", []))
            if event.get("name") == "exception":
                lines.append(f"  exception {ev_attrs.get('exception.type', '')}: {ev_attrs.get('exception.message', '')}")
                lines.extend("    " + x for x in str(ev_attrs.get("exception.stacktrace", "")).splitlines()[:12])
    for record in detail.get("logs", [])[:logs]:
        lines.append(f"log {record.get('severity', '')}: {record.get('body', '')}")
    return lines


def _trace(app, ref: str) -> Report:
    detail = trace_detail(app=app.slug, trace_id=(ref or "")[:32]) if ref else None
    if detail is None:
        raise NotFound("No such trace (it may be older than this app's retention).")
    if detail["status"] != "error":
        raise NotFound("This request did not fail: nothing to fix.")
    failing = _failing_spans(detail)
    text_lines = "\n".join(_trace_lines(detail))
    where = source_of(text_lines)
    title = f"a request failed: {failing[0]['name']}"[:200]
    text = _compose(title=title, app=app, where=where, what=f"Trace {detail['trace_id']}, {detail['duration_ms']:.0f} ms:",
                    lines=text_lines, checks="the same request succeeds (its spans end without error).")
    return Report("trace", title, where, text)


def _log(app, ref: str) -> Report:
    record = log_get(app=app.slug, record_id=(ref or "")[:24])
    if record is None:
        raise NotFound("No such log record (it may be older than this app's retention).")
    if record["level"] not in ("error", "fatal"):
        raise NotFound("This log record is not an error: nothing to fix.")
    body = str(record.get("body", ""))
    attrs = "\n".join(f"{k}={v}" for k, v in record.get("attrs", [])[:20])
    where = source_of(body) or source_of(attrs)
    title = f"the app logged an error: {body[:120]}"
    text = _compose(title=title, app=app, where=where, what=f"{record.get('severity', 'ERROR')} log record:",
                    lines=body + ("\n" + attrs if attrs else ""),
                    checks="the action that logged it no longer logs an error.")
    return Report("log", title, where, text)


def _number(ref: str) -> int:
    if not str(ref or "").isdigit():
        raise NotFound("Name the build or release by its id.")
    return int(ref)
