"""The OTLP/HTTP receiver: POST /otlp/v1/traces and /otlp/v1/logs (mgx_site.urls).

Served on both of Daphne's listeners: the internal one (host.docker.internal from the apps'
containers, mgx_site.asgi.INTERNAL_ALSO) and the public one (collectors and apps elsewhere,
and MGX itself). Refusals: 401 without a token, with another app's or for an app that does not
exist (one answer, so nobody learns which apps exist), 413 for an oversize body, 400 for a
malformed one; nothing is stored from a refused request. The token is checked before the body
is looked at; Daphne itself (mgx_site.daphne_server) answers a body that comes without any
ingest token, or over MGX_OTLP_MAX_BODY_BYTES, before reading it.
"""
import json

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.errors import MgxError, http_status

from . import services

EMPTY_RESPONSE = b""  # an empty Export*ServiceResponse: zero bytes in protobuf


def _answer(status: int, message: str, *, json_body: bool) -> HttpResponse:
    if json_body or status >= 400:
        body = json.dumps({} if status < 400 else {"code": status, "message": message})
        return HttpResponse(body, status=status, content_type="application/json")
    return HttpResponse(EMPTY_RESPONSE, status=status, content_type="application/x-protobuf")


def _receiver(kind: str):
    @csrf_exempt
    @require_POST
    def view(request):
        json_body = request.content_type == "application/json"
        limit = settings.MGX_OTLP_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        try:
            if declared > limit:
                raise services.TooLarge(f"The body is larger than {limit} bytes.")
            body = request.read(limit + 1)
            if len(body) > limit:
                raise services.TooLarge(f"The body is larger than {limit} bytes.")
            services.ingest(kind=kind, body=body, content_type=request.META.get("CONTENT_TYPE", ""),
                            content_encoding=request.META.get("HTTP_CONTENT_ENCODING", ""),
                            authorization=request.META.get("HTTP_AUTHORIZATION", ""),
                            app_header=request.META.get("HTTP_X_MGX_APP", ""),
                            stage_header=request.META.get("HTTP_X_MGX_STAGE", "")[:10])
        except services.Unauthorized as exc:
            response = _answer(401, str(exc), json_body=json_body)
            response["WWW-Authenticate"] = 'Bearer realm="otlp"'
            return response
        except MgxError as exc:
            return _answer(http_status(exc), str(exc), json_body=json_body)
        return _answer(200, "", json_body=json_body)

    view.__name__ = f"otlp_{kind}"
    return view


traces = _receiver("traces")
logs = _receiver("logs")
