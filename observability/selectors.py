"""Reads of an app's telemetry: the Traces tab's list and waterfall, the OTel logs view, and what
the agent team reads (recent errors, failing spans and their logs).

The store may be the embedded nx-27017: queries keep to what it answers correctly (top-level
fields, $regex on strings, $group with $min/$max/$sum); no `distinct`, no matching inside the
attribute pairs (the text filter looks at names, status messages and log bodies).
"""
from __future__ import annotations

import datetime as dt
import re

from bson import ObjectId
from django.conf import settings

from .documents import logs, spans
from .models import IngestKey

RANGES = {"15m": dt.timedelta(minutes=15), "1h": dt.timedelta(hours=1), "24h": dt.timedelta(days=1),
          "7d": dt.timedelta(days=7)}
STATUS_NAMES = {0: "unset", 1: "ok", 2: "error"}
SEVERITIES = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "error": 17, "fatal": 21}
TRACE_LIMIT = 50
LOG_LIMIT = 200


def _since(range_key: str, now: dt.datetime | None = None) -> dt.datetime:
    now = now or dt.datetime.now(dt.timezone.utc)
    return now - RANGES.get(range_key, RANGES["24h"])


def _ns(when: dt.datetime) -> int:
    return int(when.timestamp() * 1_000_000) * 1000


def _text(text: str) -> dict:
    return {"$regex": re.escape(text.strip()[:200]), "$options": "i"}


def _pairs(pairs) -> list[tuple[str, object]]:
    return [(p.get("k", ""), p.get("v")) for p in pairs or []]


STAGES = ("dev", "prod")
HTTP_STATUS = re.compile(r"^([1-5])(?:([0-9]{2})|xx)$")  # 404, 500, or a class: 4xx, 5xx


def _http_status_match(raw: str) -> dict | None:
    """A query on `http_status` for "404" or "5xx"; None for anything else."""
    found = HTTP_STATUS.match((raw or "").strip().lower())
    if not found:
        return None
    if found.group(2) is not None:
        return {"http_status": int(raw.strip())}
    low = int(found.group(1)) * 100
    return {"http_status": {"$gte": low, "$lt": low + 100}}


def _trace_ids(match: dict) -> list[str]:
    hits = spans().aggregate([{"$match": match}, {"$group": {"_id": "$trace_id"}}, {"$limit": 2000}])
    return [h["_id"] for h in hits]


def traces_list(*, app: str, status: str = "", min_ms: float | None = None, text: str = "", range_key: str = "24h",
                stage: str = "", route: str = "", http_status: str = "", health: bool = False,
                limit: int = TRACE_LIMIT) -> list[dict]:
    """Recent traces, newest first: root span name, service, start, duration, span count, status
    (error when any span failed), stage (dev, prod or "" when unknown), route and HTTP status.

    Health checks (the template's health path, every ~10 s from Docker's HEALTHCHECK) are left
    out unless `health`; `stage` keeps one stage's; `route` matches the root's route or name;
    `http_status` is a code (404) or a class (5xx) of the root's answer."""
    # Nanoseconds, not `start`: nx-27017 matches a date inside an aggregation as anything at all.
    match: dict = {"app": app, "start_ns": {"$gte": _ns(_since(range_key))}}
    if not health:
        match["health"] = {"$ne": True}  # set only on health checks' groups (otlp.span_documents)
    if stage in STAGES:
        match["stage"] = stage
    narrowed: set[str] | None = None
    narrowing = []
    if text.strip():
        narrowing.append({"$or": [{"names": _text(text)}, {"errors": _text(text)}]})
    if route.strip():
        narrowing.append({"$or": [{"route": _text(route)}, {"root": _text(route)}]})
    status_match = _http_status_match(http_status)
    if status_match:
        narrowing.append(status_match)
    for extra in narrowing:
        ids = set(_trace_ids({**match, **extra}))
        narrowed = ids if narrowed is None else narrowed & ids
    if narrowed is not None:
        match["trace_id"] = {"$in": sorted(narrowed)}
    groups = spans().aggregate([
        {"$match": match},
        # No $min of "$start": nx-27017 answers a date's $min as Extended JSON text; nanoseconds are numbers.
        {"$group": {"_id": "$trace_id", "start_ns": {"$min": "$start_ns"},
                    "end_ns": {"$max": "$end_ns"}, "spans": {"$sum": "$n"}, "status": {"$max": "$status"}}},
        {"$sort": {"start_ns": -1}}, {"$limit": 1000},
    ])
    rows = []
    for g in groups:
        row = {"trace_id": g["_id"], "start": dt.datetime.fromtimestamp(g["start_ns"] / 1e9, dt.timezone.utc),
               "spans": g["spans"], "status": STATUS_NAMES.get(g["status"], "unset"),
               "duration_ms": max(0, g["end_ns"] - g["start_ns"]) / 1e6}
        if status == "error" and row["status"] != "error" or status == "ok" and row["status"] == "error":
            continue
        if min_ms is not None and row["duration_ms"] < min_ms:
            continue
        rows.append(row)
        if len(rows) >= limit:
            break
    roots = {g["trace_id"]: g for g in spans().find(
        {"app": app, "trace_id": {"$in": [r["trace_id"] for r in rows]}, "root": {"$ne": ""}},
        {"trace_id": 1, "root": 1, "service": 1, "stage": 1, "route": 1, "http_status": 1, "health": 1})}
    kept = []
    for row in rows:
        root = roots.get(row["trace_id"]) or {}
        if root.get("health") and not health:
            continue  # its root came after spans of it that were stored untagged
        row["name"] = root.get("root") or "(root span not received)"
        row["service"] = root.get("service", "")
        row["stage"] = root.get("stage") or ""
        row["route"] = root.get("route") or ""
        row["http_status"] = root.get("http_status")
        row["health"] = bool(root.get("health"))
        kept.append(row)
    return kept


def health_checks_count(*, app: str, range_key: str = "24h", stage: str = "") -> int:
    """How many health-check traces the list leaves out (their roots' groups)."""
    query = {"app": app, "start": {"$gte": _since(range_key)}, "health": True, "root": {"$ne": ""}}
    if stage in STAGES:
        query["stage"] = stage
    return spans().count_documents(query)


def trace_detail(*, app: str, trace_id: str) -> dict | None:
    """The trace's spans in waterfall order (parents before children, siblings by start), each
    with its depth and its offset and width in percent of the trace; and the trace's logs."""
    found = spans_of(app=app, trace_id=trace_id)
    if not found:
        return None
    start = min(s["start_ns"] for s in found)
    end = max(s["end_ns"] for s in found)
    total = max(end - start, 1)
    ids = {s["span_id"] for s in found}
    children: dict[str, list] = {}
    for s in found:
        parent = s["parent_span_id"] if s["parent_span_id"] in ids else ""
        children.setdefault(parent, []).append(s)
    ordered = []

    def walk(parent: str, depth: int):
        for s in sorted(children.get(parent, []), key=lambda x: x["start_ns"]):
            s.update(depth=depth, offset_pct=round((s["start_ns"] - start) * 100 / total, 3),
                     width_pct=max(round((s["end_ns"] - s["start_ns"]) * 100 / total, 3), 0.3),
                     status_name=STATUS_NAMES.get(s["status"], "unset"), attrs=_pairs(s.get("attributes")),
                     resource_attrs=_pairs(s.get("resource")), indent=depth * 14,
                     event_list=[{"name": e.get("name", ""), "offset_ms": (e.get("time_ns", start) - s["start_ns"]) / 1e6,
                                  "attrs": _pairs(e.get("attributes"))} for e in s.get("events") or []])
            ordered.append(s)
            walk(s["span_id"], depth + 1)

    walk("", 0)
    root = next((s for s in ordered if s["parent_span_id"] == ""), ordered[0])
    return {"trace_id": trace_id, "spans": ordered, "root": root, "duration_ms": total / 1e6,
            "stage": root["stage"] or next((s["stage"] for s in ordered if s["stage"]), ""),
            "start": dt.datetime.fromtimestamp(start / 1e9, dt.timezone.utc),
            "status": "error" if any(s["status"] == 2 for s in ordered) or _failed_answer(root) else root["status_name"],
            "logs": logs_list(app=app, trace_id=trace_id, limit=LOG_LIMIT)}


def _failed_answer(span: dict) -> bool:
    """A server span that answered 5xx (a failed request, whatever its status says)."""
    answered = dict(span.get("attrs") or _pairs(span.get("attributes")))
    status = next((answered[k] for k in ("http.response.status_code", "http.status_code") if k in answered), None)
    return str(status or "").startswith("5") and len(str(status)) == 3


def _flatten(groups) -> list[dict]:
    out = []
    for g in groups:
        for span in g.get("spans") or []:
            out.append({**span, "trace_id": g["trace_id"], "service": g.get("service", ""), "stage": g.get("stage") or "",
                        "resource": g.get("resource") or [], "app": g.get("app", ""),
                        "start": dt.datetime.fromtimestamp(span.get("start_ns", 0) / 1e9, dt.timezone.utc)})
    return out


def spans_of(*, app: str, trace_id: str | None = None, **query) -> list[dict]:
    """The stored spans of `app` (of one trace), one dict each with its trace id, service and
    resource; `query` narrows the groups (e.g. names=..., status=2)."""
    match = {"app": app, **({"trace_id": trace_id} if trace_id else {}), **query}
    return _flatten(spans().find(match, {"_id": 0}))


def _log_row(d: dict) -> dict:
    n = d.get("severity_number", 0)
    level = next((name for name, floor in sorted(SEVERITIES.items(), key=lambda kv: -kv[1]) if n >= floor), "")
    return {"id": str(d.get("_id", "")), "time": d.get("time"), "severity": d.get("severity_text") or level.upper() or "—", "level": level or "unset",
            "body": d.get("body", ""), "trace_id": d.get("trace_id", ""), "span_id": d.get("span_id", ""),
            "service": d.get("service", ""), "attrs": _pairs(d.get("attributes")), "time_ns": d.get("time_ns", 0)}


def logs_list(*, app: str, severity: str = "", text: str = "", trace_id: str = "", range_key: str = "",
              limit: int = LOG_LIMIT) -> list[dict]:
    """Log records newest first (a trace's own logs oldest first, as they happened)."""
    query: dict = {"app": app}
    if trace_id:
        query["trace_id"] = trace_id
    if severity in SEVERITIES:
        query["severity_number"] = {"$gte": SEVERITIES[severity]}
    if text.strip():
        query["body"] = _text(text)
    if range_key:
        query["time"] = {"$gte": _since(range_key)}
    order = 1 if trace_id else -1
    return [_log_row(d) for d in logs().find(query).sort("time_ns", order).limit(limit)]


LOG_ID = re.compile(r"^[0-9a-f]{24}$")


def log_get(*, app: str, record_id: str) -> dict | None:
    """One log record of `app` by its id (a row's `id`), or None (another app's, gone, malformed)."""
    if not LOG_ID.match(record_id or ""):
        return None
    found = logs().find_one({"_id": ObjectId(record_id), "app": app})
    return _log_row(found) if found else None


def failures_since(*, app: str, stage: str, since: dt.datetime, sample: int = 5) -> dict:
    """How `stage` of the app has been failing since `since`: the requests it answered (traces'
    roots; health checks left out), the failing ones (an error span, or a 5xx answer: see
    otlp.span_documents), the error-level log records outside those traces, and the newest
    failing traces' and lone error records' ids (`sample` of each), newest first."""
    base = {"app": app, "stage": stage, "start_ns": {"$gte": _ns(since)}, "health": {"$ne": True}}
    answered = spans().count_documents({**base, "root": {"$ne": ""}})
    failing = list(spans().aggregate([
        {"$match": {**base, "status": 2}},
        {"$group": {"_id": "$trace_id", "start_ns": {"$max": "$start_ns"}}},
        {"$sort": {"start_ns": -1}}, {"$limit": 2000}]))
    failing_ids = [f["_id"] for f in failing]
    # time_ns, not the date: count_documents is an aggregate, whose $match the embedded store
    # applies to dates wrongly (the spans above compare start_ns for the same reason).
    lone = {"app": app, "stage": stage, "time_ns": {"$gte": _ns(since)}, "severity_number": {"$gte": SEVERITIES["error"]},
            "trace_id": {"$nin": failing_ids}}
    lone_logs = logs().count_documents(lone)
    newest_logs = [str(d["_id"]) for d in logs().find(lone, {"_id": 1}).sort("time_ns", -1).limit(sample)]
    return {"requests": answered, "failing": len(failing_ids), "error_logs": lone_logs,
            "traces": failing_ids[:sample], "logs": newest_logs}


def problems_for_agent(*, app: str, minutes: int = 60, limit: int = 20) -> str:
    """What went wrong in the app lately, as text for the agent team: failing spans (newest
    first, with their trace's root and attributes) and error logs, or a line saying none."""
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes)
    groups = spans().find({"app": app, "status": 2, "start": {"$gte": since}}, {"_id": 0}).sort("start_ns", -1).limit(limit)
    failing = sorted((s for s in _flatten(groups) if s["status"] == 2), key=lambda s: -s["start_ns"])[:limit]
    errors = list(logs().find({"app": app, "severity_number": {"$gte": SEVERITIES["warn"]}, "time": {"$gte": since}},
                              {"_id": 0}).sort("time_ns", -1).limit(limit))
    lines = []
    if failing:
        lines.append(f"Failing spans (last {minutes} min, newest first):")
        for s in failing:
            attrs = ", ".join(f"{k}={v}" for k, v in _pairs(s.get("attributes"))[:12])
            lines.append(f"- {s['start']:%H:%M:%S} {s['name']} ({s['duration_ms']:.1f} ms) trace {s['trace_id']}: "
                         f"{s.get('status_message') or 'error'}" + (f" [{attrs}]" if attrs else ""))
            for e in (s.get("events") or [])[:3]:
                detail = ", ".join(f"{k}={str(v)[:300]}" for k, v in _pairs(e.get("attributes")))
                lines.append(f"    event {e.get('name')}: {detail}")
            for log in logs().find({"app": app, "trace_id": s["trace_id"]}, {"_id": 0}).sort("time_ns", 1).limit(5):
                lines.append(f"    log {log.get('severity_text') or log.get('severity_number')}: {log.get('body', '')[:500]}")
    if errors:
        lines.append(f"Warnings and errors logged (last {minutes} min, newest first):")
        for d in errors:
            row = _log_row(d)
            trace = f" trace {row['trace_id']}" if row["trace_id"] else ""
            lines.append(f"- {row['time']:%H:%M:%S} {row['severity']}{trace}: {row['body'][:500]}")
    if not lines:
        return f"No failing spans and no warning or error logs from the app in the last {minutes} minutes."
    return "\n".join(lines)


def traces_for_agent(*, app: str, limit: int = 20) -> str:
    """Recent traces as text: the failing ones first, each with its spans' names, durations and errors."""
    rows = traces_list(app=app, range_key="1h", limit=limit)
    if not rows:
        return "No traces from the app in the last hour (is it running, and does it send telemetry?)."
    rows.sort(key=lambda r: r["status"] != "error")
    out = []
    for r in rows:
        out.append(f"{r['start']:%H:%M:%S} {r['status'].upper():5} {r['name']} {r['duration_ms']:.1f} ms, "
                   f"{r['spans']} spans, trace {r['trace_id']}")
        if r["status"] == "error":
            detail = trace_detail(app=app, trace_id=r["trace_id"]) or {"spans": [], "logs": []}
            for s in detail["spans"][:30]:
                mark = f" ERROR {s['status_message']}" if s["status"] == 2 else ""
                out.append(f"    {'  ' * s['depth']}{s['name']} {s['duration_ms']:.1f} ms{mark}")
            for log in detail["logs"][:10]:
                out.append(f"    log {log['severity']}: {log['body'][:500]}")
    return "\n".join(out)


def mgx_spans(*, text: str = "", service: str = "", limit: int = 200) -> list[dict]:
    """MGX's own spans (exported to its own receiver), newest first, for the admin page."""
    from .documents import MGX_APP

    query: dict = {"app": MGX_APP}
    if text.strip():
        query["names"] = _text(text)
    if service:
        query["service"] = service
    needle = text.strip().lower()
    rows = [s for s in _flatten(spans().find(query, {"_id": 0, "resource": 0}).sort("start_ns", -1).limit(limit))
            if needle in s["name"].lower()]
    rows = sorted(rows, key=lambda s: -s["start_ns"])[:limit]
    for r in rows:
        r["attrs"] = _pairs(r.get("attributes"))
        r["status_name"] = STATUS_NAMES.get(r.get("status", 0), "unset")
    return rows


def apps_otlp_endpoint() -> str:
    """Where the apps send telemetry: MGX_APPS_OTLP_ENDPOINT, or else MGX's own receiver on its
    internal listener as containers reach it (the SDKs append /v1/traces and /v1/logs)."""
    configured = settings.MGX_APPS_OTLP_ENDPOINT.rstrip("/")
    return configured or f"http://host.docker.internal:{settings.MGX_INTERNAL_PORT}/otlp"


def retention_days(*, app) -> int:
    days = IngestKey.objects.filter(app=app).values_list("retention_days", flat=True).first()
    return days or settings.MGX_OTLP_RETENTION_DAYS


# ------------------------------------------------------------------ the session page's tabs

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def _filters(source) -> dict:
    raw_ms = (source.get("min_ms") or "").strip()
    try:
        min_ms = float(raw_ms) if raw_ms else None
    except ValueError:
        min_ms = None
    http_status = (source.get("http") or "").strip()[:3]
    return {"status": source.get("status", "") if source.get("status") in ("error", "ok") else "",
            "min_ms": min_ms, "min_ms_raw": raw_ms if min_ms is not None else "",
            "text": (source.get("q") or "")[:200],
            "range": source.get("range") if source.get("range") in RANGES else "24h",
            "stage": source.get("stage") if source.get("stage") in STAGES else "",
            "route": (source.get("route") or "")[:200],
            "http": http_status if _http_status_match(http_status) else "",
            "http_raw": http_status,
            "health": source.get("health") == "1"}


def traces_tab(*, app, params) -> dict:
    """What the session page's Traces tab needs (its list, filters and the ingest settings), from
    the query `params` (a mapping: the page's GET)."""
    f = _filters(params)
    return {"f": f, "ranges": list(RANGES), "stages": STAGES, "traces": traces_list(
                app=app.slug, status=f["status"], min_ms=f["min_ms"], text=f["text"], range_key=f["range"],
                stage=f["stage"], route=f["route"], http_status=f["http"], health=f["health"]),
            "health_hidden": 0 if f["health"] else health_checks_count(app=app.slug, range_key=f["range"],
                                                                       stage=f["stage"]),
            "ingest": {"endpoint": apps_otlp_endpoint(), "key": IngestKey.objects.filter(app=app).first(),
                       "retention": retention_days(app=app),
                       "default_retention": settings.MGX_OTLP_RETENTION_DAYS}}


def otel_logs_tab(*, app, params) -> dict:
    """What the Logs tab's OpenTelemetry view needs, from the query `params`."""
    severity = params.get("severity", "")
    text = (params.get("q") or "")[:200]
    return {"lf": {"severity": severity if severity in SEVERITIES else "", "text": text},
            "severities": list(SEVERITIES),
            "records": logs_list(app=app.slug, severity=severity, text=text)}
