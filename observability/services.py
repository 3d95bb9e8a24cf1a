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

from core.errors import Invalid, MgxError, NotFound, TooLarge  # noqa: F401 (the receiver raises TooLarge too)

from . import otlp
from .documents import MGX_APP, logs, spans
from .models import IngestKey
from .tokens import derive, mgx_ingest_token


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
    return key


def _bearer(authorization: str) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _app_for_ingest(slug: str, token: str):
    """The app `slug` names, if `token` is its token. Unknown app: NotFound; wrong token: Unauthorized."""
    from sessions_app.models import App

    if slug == MGX_APP:
        if hmac.compare_digest(token, mgx_ingest_token()):
            return MGX_APP
        raise Unauthorized("This ingest token is not MGX's.")
    app = App.objects.filter(slug=slug).first()
    if app is None:
        raise NotFound(f"No app {slug!r}.")
    if not hmac.compare_digest(token, app_ingest_token(app=app)):
        raise Unauthorized(f"This ingest token is not the token of app {slug!r}.")
    return app.slug


def ingest(*, kind: str, body: bytes, content_type: str, content_encoding: str, authorization: str,
           app_header: str = "") -> int:
    """Store one OTLP/HTTP export request of `kind` ("traces" or "logs"); returns how many spans
    or log records were stored. The app is the `X-MGX-App` header, or else the `service.name`
    of the request's resources (one app a request). Raises Unauthorized (no token, or another
    app's), NotFound (no such app), TooLarge, otlp.Malformed; each before anything is written."""
    token = _bearer(authorization)
    if not token:
        raise Unauthorized("An ingest token is required: Authorization: Bearer <token>.")
    if not token.startswith("mgxi_"):  # an MGX or OAuth token, say: refused before any decoding
        raise Unauthorized("This is not an ingest token.")
    slug = app_header.strip()
    if slug:
        slug = _app_for_ingest(slug, token)
    raw = otlp.decompress(body, encoding=content_encoding, limit=settings.MGX_OTLP_MAX_BODY_BYTES)
    message = otlp.parse(raw, content_type=content_type, kind=kind)
    if not slug:
        named = otlp.services_of(message) - {""}
        if len(named) != 1:
            raise otlp.Malformed("Name the app: an X-MGX-App header, or one service.name for the whole request.")
        slug = _app_for_ingest(named.pop(), token)
    now = dt.datetime.now(dt.timezone.utc)
    if kind == "traces":
        docs, collection = otlp.span_documents(message, app=slug, received_at=now), spans()
    else:
        docs, collection = otlp.log_documents(message, app=slug, received_at=now), logs()
    if docs:
        collection.insert_many(docs, ordered=False)
    return len(docs)


def retention_enforce(*, now: dt.datetime | None = None) -> dict:
    """Remove spans and log records older than their app's retention (received before it), and
    all telemetry of apps that no longer exist. Returns what was removed."""
    from sessions_app.models import App

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
    return key
