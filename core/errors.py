"""Domain errors: what services and selectors raise when they refuse. The message is safe to
show to the person who asked. Below the views nothing speaks HTTP: an error says what kind of
refusal it is (`kind`), and the two translators turn kinds into answers: `core.api` for the
JSON API, `core.pages` for pages and HTMX partials. `HTTP_STATUS` is the one mapping both use.

Subclass the kind that fits (a workspace path outside the workspace is `Invalid`, a missing
file `NotFound`); add `field` when the refusal is about one input field."""
from __future__ import annotations


class MgxError(Exception):
    kind = "invalid"

    def __init__(self, message: str = "", *, field: str | None = None):
        super().__init__(message)
        self.field = field

    @property
    def message(self) -> str:
        return str(self)


class Invalid(MgxError):
    """The input cannot be accepted as it is (a bad path, a reserved name, an empty message)."""

    kind = "invalid"


class NotFound(MgxError):
    """Nothing by that name, or nothing the caller may see (both look the same on purpose)."""

    kind = "not_found"


class Conflict(MgxError):
    """The request fits, but not the current state (already exists, already running, changed meanwhile)."""

    kind = "conflict"


class LimitReached(Conflict):
    """A per-user limit (apps, running dev servers; mgx_site/settings/limits.py) is reached: the
    message names the limit and how to make room. Nothing was changed."""


class TooLarge(MgxError):
    kind = "too_large"


class StorageFull(MgxError):
    """A disk MGX writes to for the user (the workspace's own file system) is full."""

    kind = "full"


class Unavailable(MgxError):
    """A service MGX depends on does not answer (the Docker engine, the model endpoint)."""

    kind = "unavailable"


# The one place a kind becomes an HTTP status. An invalid *field* is 422 (the body does not fit),
# an invalid request otherwise 400.
HTTP_STATUS = {"invalid": 400, "not_found": 404, "conflict": 409, "too_large": 413, "full": 507,
               "unavailable": 503}


def http_status(exc: MgxError) -> int:
    if exc.kind == "invalid" and exc.field:
        return 422
    return HTTP_STATUS.get(exc.kind, 400)
