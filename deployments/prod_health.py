"""How each live release has been failing lately: the "Errors" badge of the Prod tab, the
session's header and the dashboard.

Every MGX_PROD_ERRORS_INTERVAL seconds (Celery beat) each live release's telemetry of the last
MGX_PROD_ERROR_WINDOW_MINUTES, and only since it went live (a fix deployed clears the badge at
once), is counted from MGX's own store (observability.selectors.failures_since): the requests
it answered, the failing ones (an error span, or a 5xx answer) and the error-level log records
outside them. The release shows "Errors" when there are at least MGX_PROD_ERRORS_MIN of them
and they are at least MGX_PROD_ERROR_RATE of what it answered; the row keeps the counts and the
newest failing traces' ids (the badge links to them, Fix it reports them) in `Release.errors`,
and a change is announced like any release's.

Health checks do not count, and neither does the dev server's telemetry: only what the
release's containers sent with `X-MGX-Stage: prod`.
"""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from observability.selectors import failures_since

from .models import Release
from .production import _announce
from .selectors import window_range


def release_errors(release: Release, *, now: dt.datetime | None = None) -> dict:
    """The live release's errors now: counts, whether they cross the threshold, the newest ids."""
    now = now or timezone.now()
    since = now - dt.timedelta(minutes=settings.MGX_PROD_ERROR_WINDOW_MINUTES)
    if release.live_at and release.live_at > since:
        since = release.live_at
    found = failures_since(app=release.app.slug, stage="prod", since=since)
    errors = found["failing"] + found["error_logs"]
    answered = max(found["requests"] + found["error_logs"], 1)
    over = errors >= settings.MGX_PROD_ERRORS_MIN and errors / answered >= settings.MGX_PROD_ERROR_RATE
    return {**found, "count": errors, "rate": round(errors / answered, 4), "over": over,
            "minutes": settings.MGX_PROD_ERROR_WINDOW_MINUTES, "range": window_range()}


def prod_errors_check(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Count every live release's errors; {slug: errors}. A release whose counts changed is
    written (its `errors` only: a deploy or a stop may be changing the row meanwhile) and
    announced, so the open pages show the badge, or drop it, without a reload."""
    counted = {}
    for release in Release.objects.filter(status=Release.Status.LIVE).select_related("app"):
        found = release_errors(release, now=now)
        counted[release.app.slug] = found["count"]
        if found == (release.errors or {}):
            continue
        if Release.objects.filter(pk=release.pk, status=Release.Status.LIVE).update(errors=found):
            release.errors = found
            _announce(release)
    return counted
