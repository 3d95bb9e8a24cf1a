"""Per-app environment variables for production containers (the Prod tab's Variables and
`/api/apps/<slug>/prod/env`).

A secret variable's value is write-only: once saved, MGX shows only that it is set. It reaches
the app's containers and nothing else; every text MGX shows from a container or a build (build
output, a failed release's last log lines, events) goes through `mask()` first, so an app that
prints its environment does not hand the secret to whoever reads its logs.

The names of the template contract (MGX_*, MONGODB_*, OTEL_*) are MGX's: a variable cannot
override them, so an app cannot be pointed at another app's database or OAuth client by a typo.
"""
from __future__ import annotations

import re

from django.db import transaction

from core.errors import Invalid

from .models import AppEnvVar

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
RESERVED_PREFIXES = ("MGX_", "MONGODB_", "OTEL_")
RESERVED = {"PATH", "HOME", "HOSTNAME", "PORT", "NODE_ENV", "BACKEND_URL", "PYTHONPATH", "LD_PRELOAD", "LD_LIBRARY_PATH"}
MAX_VALUE = 32_768
MASK = "••••••"
MIN_MASKED = 4  # shorter secrets would mask ordinary words in every log line


def env_var_set(*, app, name: str, value: str, secret: bool = False) -> AppEnvVar:
    """Create or replace one variable. Takes effect at the next deploy."""
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise Invalid("A variable name is letters, digits and underscores, not starting with a digit.", field="name")
    upper = name.upper()
    if upper in RESERVED or upper.startswith(RESERVED_PREFIXES):
        raise Invalid(f"{name} is set by MGX itself (the template contract); choose another name.", field="name")
    if "\0" in value or len(value) > MAX_VALUE:
        raise Invalid(f"A value is at most {MAX_VALUE} characters, without NUL bytes.", field="value")
    with transaction.atomic():
        var, _ = AppEnvVar.objects.update_or_create(app=app, name=name, defaults={"value": value, "secret": bool(secret)})
    return var


def env_var_delete(*, app, name: str) -> None:
    """Idempotent: a variable that is not there is already deleted."""
    AppEnvVar.objects.filter(app=app, name=name).delete()


def user_environment(*, app) -> dict[str, str]:
    """The variables the containers get on top of the template contract's."""
    return {v.name: v.value for v in AppEnvVar.objects.filter(app=app)}


def secret_values(*, app) -> list[str]:
    values = [v for v in AppEnvVar.objects.filter(app=app, secret=True).values_list("value", flat=True) if len(v) >= MIN_MASKED]
    return sorted(values, key=len, reverse=True)  # a secret containing another is masked whole


def mask(text: str, secrets: list[str]) -> str:
    for value in secrets:
        if value in text:
            text = text.replace(value, MASK)
    return text
