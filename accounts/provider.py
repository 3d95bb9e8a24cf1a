"""Calling MGX's own token and revocation endpoints from inside MGX.

The login page gets its token exactly as any client does — the same oauthlib server, the same
validator (throttling, app-user rules) and the same JWT generator as `/oauth2/token/` — only
without a loopback HTTP request to itself.
"""
from __future__ import annotations

import json

from django.conf import settings
from django.urls import reverse
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauthlib.common import urlencode
from oauthlib.oauth2 import OAuth2Error


def _headers(address: str) -> dict[str, str]:
    # REMOTE_ADDR is where the validator reads the caller's address from (DOT passes
    # request.META as the headers of HTTP requests).
    return {"Content-Type": "application/x-www-form-urlencoded", "REMOTE_ADDR": address or ""}


def token_request(params: dict[str, str], *, address: str) -> tuple[int, dict]:
    server = get_oauthlib_core().server
    uri = settings.MGX_PUBLIC_URL + reverse("oauth2_provider:token")
    try:
        _headers_out, body, status = server.create_token_response(
            uri, "POST", urlencode(list(params.items())), _headers(address), None
        )
    except OAuth2Error as exc:
        return exc.status_code, json.loads(exc.json)
    return status, json.loads(body or "{}")


def revoke_request(params: dict[str, str], *, address: str = "") -> int:
    server = get_oauthlib_core().server
    uri = settings.MGX_PUBLIC_URL + reverse("oauth2_provider:revoke-token")
    _headers_out, _body, status = server.create_revocation_response(
        uri, "POST", urlencode(list(params.items())), _headers(address)
    )
    return status
