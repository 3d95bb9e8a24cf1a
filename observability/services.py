"""Writes: the apps' ingest tokens (derive, check, rotate), received telemetry, retention.

`ingest(...)` is the receiver's one call: authenticate, decode, store, in that order, so a
refused request stores nothing. MGX's own telemetry (service `mgx`, exported by mgx_site.otel)
authenticates with `mgx_ingest_token()` and is stored under the app `_mgx`.
"""
from __future__ import annotations

import datetime as dt
import hmac
import secrets

from django.conf import settings
from django.utils import timezone

from core.announce import announce
from core.errors import Invalid, MgxError, NotFound, TooLarge  # noqa: F401 (the receiver raises TooLarge too)
from sessions_app.models import App

from . import otlp
from .documents import MGX_APP, logs, spans
from .models import IngestKey
from .tokens import PREFIX, app_of, derive, derive_unnamed


class Unauthorized(MgxError):
    """No ingest token, or not this app's. (The receiver answers 401.)"""

    kind = "unauthorized"


def ingest_key(*, app) -> IngestKey:
    key, _ = IngestKey.objects.get_or_create(app=app)
    return key


def app_ingest_token(*, app) -> str:
    """The token the app's containers send with their telemetry (OTEL_EXPORTER_OTLP_HEADERS)."""
    return derive(app.slug, ingest_key(app=app).salt)


def ingest_token_rotate(*, app) -> IngestKey:
    """A new token at once; the old one is refused from now on. Containers get the new one when
    they next start (Dev: Start fresh; Prod: deploy)."""
    key = ingest_key(app=app)
    key.salt = secrets.token_hex(16)
    key.rotated_at = timezone.now()
    key.save(update_fields=["salt", "rotated_at"])
    announce(slug=app.slug, kind="telemetry.settings", data={"action": "token_rotated"})
    return key


def _bearer(authorization: str) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _app_for_ingest(*, token: str, app_header: str) -> str:
    """The app the request is for, once `token` is shown to be that app's: the app the token
    names, or (a token made before tokens named their app) the X-MGX-App header. Raises
    Unauthorized otherwise; an app that does not exist gets the same answer as a wrong token,
    so the receiver tells nobody which apps exist."""
    named, header = app_of(token), app_header.strip()
    if named and header and header != named:
        raise Unauthorized(f"This ingest token is for app {named!r}, not {header[:50]!r}.")
    slug = named or header
    if not slug:
        raise Unauthorized("This ingest token does not name its app: send X-MGX-App: <app> with it, "
                           "or use the app's current token (its Traces tab).")
    refused = Unauthorized(f"This is not an ingest token of app {slug[:50]!r}.")
    if slug == MGX_APP:
        salt = ""
    else:
        app = App.objects.filter(slug=slug).first()
        if app is None:
            raise refused
        salt = ingest_key(app=app).salt
    valid = derive(slug, salt) if named else derive_unnamed(slug, salt)
    if not hmac.compare_digest(token.encode(), valid.encode()):
        raise refused
    return slug


def ingest(*, kind: str, body: bytes, content_type: str, content_encoding: str, authorization: str,
           app_header: str = "", stage_header: str = "") -> int:
    """Store one OTLP/HTTP export request of `kind` ("traces" or "logs"); returns how many spans
    or log records were stored. The token is checked first (it names its app, or the
    `X-MGX-App` header does): nothing of the body is looked at for a request without its app's
    token. Raises Unauthorized, TooLarge or otlp.Malformed, each before anything is written.

    `stage_header` (`X-MGX-Stage`, which MGX puts in its containers' OTLP headers) says whether
    the spans and log records come from the dev server or production; they are tagged with it
    (otlp.span_documents, otlp.log_documents)."""
    token = _bearer(authorization)
    if not token:
        raise Unauthorized("An ingest token is required: Authorization: Bearer <token>.")
    if not token.startswith(PREFIX):  # an MGX or OAuth token, say
        raise Unauthorized("This is not an ingest token.")
    slug = _app_for_ingest(token=token, app_header=app_header)
    raw = otlp.decompress(body, encoding=content_encoding, limit=settings.MGX_OTLP_MAX_BODY_BYTES)
    message = otlp.parse(raw, content_type=content_type, kind=kind)
    now = dt.datetime.now(dt.timezone.utc)
    stage = stage_header.strip().lower()
    if kind == "traces":
        docs, collection = otlp.span_documents(message, app=slug, received_at=now, stage=stage), spans()
    else:
        docs, collection = otlp.log_documents(message, app=slug, received_at=now, stage=stage), logs()
    otlp.check_storable(docs)
    if docs:
        collection.insert_many(docs, ordered=False)
        health = [d["trace_id"] for d in docs if d.get("health")]
        if health:  # spans of a health check that came in an earlier request are one too
            collection.update_many({"app": slug, "trace_id": {"$in": health}, "health": {"$ne": True}},
                                   {"$set": {"health": True}})
        if slug != MGX_APP:  # MGX's own spans belong to no app's page
            announce(slug=slug, kind="telemetry.received",
                     data={"spans": len(docs) if kind == "traces" else 0, "logs": len(docs) if kind == "logs" else 0})
    return len(docs)


def retention_enforce(*, now: dt.datetime | None = None) -> dict:
    """Remove spans and log records older than their app's retention (received before it), and
    all telemetry of apps that no longer exist. Returns what was removed."""
    now = now or dt.datetime.now(dt.timezone.utc)
    default_days = settings.MGX_OTLP_RETENTION_DAYS
    overrides = dict(IngestKey.objects.filter(retention_days__isnull=False).values_list("app__slug", "retention_days"))
    slugs = list(App.objects.values_list("slug", flat=True)) + [MGX_APP]
    removed = {"spans": 0, "logs": 0}
    for name, collection in (("spans", spans()), ("logs", logs())):
        for slug, days in overrides.items():
            cut = now - dt.timedelta(days=days)
            removed[name] += collection.delete_many({"app": slug, "received_at": {"$lt": cut}}).deleted_count
        cut = now - dt.timedelta(days=default_days)
        removed[name] += collection.delete_many(
            {"app": {"$nin": list(overrides)}, "received_at": {"$lt": cut}}).deleted_count
        removed[name] += collection.delete_many({"app": {"$nin": slugs}}).deleted_count
    return removed


def telemetry_delete(*, slug: str) -> None:
    """The app is being deleted: its telemetry goes with it."""
    spans().delete_many({"app": slug})
    logs().delete_many({"app": slug})


MAX_RETENTION_DAYS = 365


def retention_set(*, app, days: int | None) -> IngestKey:
    """Days of this app's telemetry to keep; None: MGX_OTLP_RETENTION_DAYS."""
    if days is not None and not 1 <= days <= MAX_RETENTION_DAYS:
        raise Invalid(f"Keep telemetry between 1 and {MAX_RETENTION_DAYS} days.", field="days")
    key = ingest_key(app=app)
    key.retention_days = days
    key.save(update_fields=["retention_days"])
    announce(slug=app.slug, kind="telemetry.settings", data={"action": "retention_set"})
    return key
