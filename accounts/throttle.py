"""Failed-login throttling, per user name at one client address, and per client address.

Counted in the SQL database so every process (Daphne workers, a second replica) sees the same
numbers and an admin can unlock someone from the Django admin. Names that do not exist are
counted like real ones, so a lockout message never tells anyone which names exist.

A name is never locked for everyone: a stranger guessing alice's password from one address
locks only alice-at-that-address (and, past the larger per-address limit, that address), so
alice logging in from her own address is not affected. Each further lockout of the same name at
the same address lasts twice as long as the one before (MGX_LOGIN_LOCKOUT_SECONDS doubling up
to MGX_LOGIN_LOCKOUT_MAX_SECONDS), which makes guessing slow without hurting anyone else. The
doubling is forgotten after a correct password from there, or once a full maximum lockout has
passed without a new one.
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
        super().__init__(f"Too many failed logins. Try again in {_how_long(until - timezone.now())}.")


def _how_long(left: timedelta) -> str:
    minutes = max(1, math.ceil(left.total_seconds() / 60))
    if minutes > 90:
        hours = math.ceil(minutes / 60)
        return f"{hours} hours"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


@dataclass(frozen=True)
class Subject:
    """Who is trying: the name they typed (namespaced per app) and where they come from."""

    user_key: str
    address: str

    @property
    def pair_key(self) -> str:
        # Readable in the admin ("alice @ 203.0.113.7"); an IPv6 address is at most 45 characters.
        return f"{self.user_key.lower()[:200]} @ {self.address[:50]}"

    def rows(self):
        yield LoginThrottle.Scope.PAIR, self.pair_key, settings.MGX_LOGIN_MAX_FAILURES_PER_USER
        if self.address:
            yield LoginThrottle.Scope.ADDRESS, self.address[:255], settings.MGX_LOGIN_MAX_FAILURES_PER_ADDRESS


def throttle_check(*, subject: Subject) -> None:
    """Raise LoginLocked while the name at this address, or the address, is locked out."""
    now = timezone.now()
    for scope, key, _limit in subject.rows():
        until = (
            LoginThrottle.objects.filter(scope=scope, key=key, locked_until__gt=now)
            .values_list("locked_until", flat=True)
            .first()
        )
        if until is not None:
            raise LoginLocked(until)


def _lockout_seconds(*, scope: str, lockouts: int) -> int:
    base, cap = settings.MGX_LOGIN_LOCKOUT_SECONDS, settings.MGX_LOGIN_LOCKOUT_MAX_SECONDS
    if scope != LoginThrottle.Scope.PAIR:
        return base  # an address is shared by many people; its lockout does not grow
    return min(cap, base * 2 ** min(lockouts - 1, 32))


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
            if row.locked_until and row.locked_until <= now - timedelta(seconds=settings.MGX_LOGIN_LOCKOUT_MAX_SECONDS):
                row.lockouts = 0  # quiet for a whole maximum lockout: start small again
            row.failures += 1
            if row.failures >= limit:
                row.lockouts += 1
                row.locked_until = now + timedelta(seconds=_lockout_seconds(scope=scope, lockouts=row.lockouts))
                # The count starts again after the lockout instead of locking at the next typo.
                row.failures = 0
                row.window_started_at = row.locked_until
            row.save()


def throttle_succeed(*, subject: Subject) -> None:
    """A correct password clears the name's count at this address (the address keeps its own)."""
    LoginThrottle.objects.filter(scope=LoginThrottle.Scope.PAIR, key=subject.pair_key).delete()
