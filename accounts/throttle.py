"""Failed-login throttling, per user name and per client address.

Counted in the SQL database so every process (Daphne workers, a second replica) sees the same
numbers and an admin can unlock someone from the Django admin. Names that do not exist are
counted like real ones, so a lockout message never tells anyone which names exist.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import LoginThrottle


class LoginLocked(Exception):
    def __init__(self, until: datetime):
        self.until = until
        minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(f"Too many failed logins. Try again in {minutes} {unit}.")


@dataclass(frozen=True)
class Subject:
    """Who is trying: the name they typed (namespaced per app) and where they come from."""

    user_key: str
    address: str

    def rows(self):
        yield LoginThrottle.Scope.USER, self.user_key.lower()[:255], settings.MGX_LOGIN_MAX_FAILURES_PER_USER
        if self.address:
            yield LoginThrottle.Scope.ADDRESS, self.address[:255], settings.MGX_LOGIN_MAX_FAILURES_PER_ADDRESS


def throttle_check(*, subject: Subject) -> None:
    """Raise LoginLocked while the name or the address is locked out."""
    now = timezone.now()
    for scope, key, _limit in subject.rows():
        until = (
            LoginThrottle.objects.filter(scope=scope, key=key, locked_until__gt=now)
            .values_list("locked_until", flat=True)
            .first()
        )
        if until is not None:
            raise LoginLocked(until)


def throttle_fail(*, subject: Subject) -> None:
    """Count one failure; lock out whatever reached its limit within the window."""
    now = timezone.now()
    window = timedelta(seconds=settings.MGX_LOGIN_FAILURE_WINDOW_SECONDS)
    with transaction.atomic():
        for scope, key, limit in subject.rows():
            row, _ = LoginThrottle.objects.select_for_update().get_or_create(
                scope=scope, key=key, defaults={"window_started_at": now}
            )
            if row.window_started_at <= now - window:
                row.failures = 0
                row.window_started_at = now
            row.failures += 1
            if row.failures >= limit:
                row.locked_until = now + timedelta(seconds=settings.MGX_LOGIN_LOCKOUT_SECONDS)
                # The count starts again after the lockout instead of locking at the next typo.
                row.failures = 0
                row.window_started_at = row.locked_until
            row.save()


def throttle_succeed(*, subject: Subject) -> None:
    """A correct password clears the name's count (the address keeps its own)."""
    LoginThrottle.objects.filter(scope=LoginThrottle.Scope.USER, key=subject.user_key.lower()[:255]).delete()
