"""django-csp's middleware, with the policy built once instead of per response.

django-csp builds the Content-Security-Policy header from the settings on every response
(~35 us each for the header and the report-only one on the 2-core machine, more than Django's
own work for a small API answer). MGX sets no per-response policy (no `csp_update`,
`csp_replace` or `csp_exempt` decorators) and uses no nonces, so the header is the same for
every response: it is built once from the settings (again when a test overrides them). A
response or request that does carry a policy of its own, or a nonce, goes through django-csp
as before.

`MIDDLEWARE`: "core.csp.CSPMiddleware" where "csp.middleware.CSPMiddleware" was.
"""
from __future__ import annotations

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed

_PER_RESPONSE = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")
_POLICIES: dict[bool, tuple[str, tuple[str, ...]]] = {}


def _policy(report_only: bool) -> tuple[str, tuple[str, ...]]:
    """The header from the settings alone, and the path prefixes it is not sent on."""
    if report_only not in _POLICIES:
        config = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY" if report_only else "CONTENT_SECURITY_POLICY",
                         None) or {}
        _POLICIES[report_only] = (build_policy(report_only=report_only),
                                  tuple(config.get("EXCLUDE_URL_PREFIXES", None) or ()))
    return _POLICIES[report_only]


def _forget(*, setting, **kwargs):
    if setting in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY"):
        _POLICIES.clear()


setting_changed.connect(_forget)


class CSPMiddleware(DjangoCSPMiddleware):
    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or \
                any(getattr(response, name, None) is not None for name in _PER_RESPONSE):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:  # as django-csp: the debug pages
            return response
        for report_only, header, exempt in ((False, HEADER, "_csp_exempt"), (True, HEADER_REPORT_ONLY, "_csp_exempt_ro")):
            policy, excluded = _policy(report_only)
            if policy and header not in response and getattr(response, exempt, False) is False and \
                    not request.path_info.startswith(excluded):
                response[header] = policy
        # As django-csp: a nonce asked for after the header was written is an error.
        setattr(request, "csp_nonce", CheckableLazyObject(self._csp_nonce_post_response))
        return response
