"""The model endpoint as MGX's host reaches it: the admin page's Test (/admin/model/), one small
chat completion, and what went wrong said plainly (unreachable host, refused key, unknown model,
timeout).

The call runs from MGX's web process, on MGX's host: it reaches what this machine reaches,
loopback included. That is why only MGX admins set and test the endpoint, why the call goes to
the endpoint as configured and nowhere else (no redirect is followed), and why MGX's own
services' ports are refused as endpoints (`agents.services.model_settings_save`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests


CHECK_PROMPT = "Reply with the single word: ready"
CHECK_BODY_LIMIT = 64 * 1024  # bytes of the endpoint's answer read; a chat completion this small fits
SHOWN = 300  # characters of the model's answer or the endpoint's error message shown


@dataclass(frozen=True)
class EndpointCheck:
    """What one test call found. `message` says it in a sentence (never the key); `answer` is
    the model's reply (text the model wrote: show it as text)."""

    ok: bool
    message: str
    answer: str = ""
    model: str = ""
    status: int = 0
    elapsed_ms: float = 0.0


def _endpoint_said(raw: bytes) -> str:
    """The error message in an endpoint's answer: OpenAI's {"error": {"message"}}, Ollama's
    {"error": "..."}, vLLM's and FastAPI's {"detail"/"message"}, or the text itself."""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("code") or error)
        for key in ("error", "detail", "message"):
            if data.get(key):
                return str(data[key])
    return json.dumps(data)


def _unreachable(exc: requests.RequestException, where: str, timeout: float) -> str:
    said = repr(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"No connection to {where} within {timeout:g} s (timeout): is the host up, and not behind a firewall?"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return (f"{where} accepted the connection but sent no answer within {timeout:g} s (timeout). A model that "
                "is still loading can take that long: try again in a minute.")
    if isinstance(exc, requests.exceptions.SSLError):
        return f"The TLS handshake with {where} failed: is it https, with a certificate this machine trusts?"
    if any(s in said for s in ("Name or service not known", "Temporary failure in name resolution",
                               "nodename nor servname", "NameResolutionError", "No address associated")):
        return f"The host name of {where} does not resolve from MGX's host."
    if "Connection refused" in said or "ConnectionRefused" in said:
        return f"Nothing listens at {where} (connection refused): is the model server running, on that port?"
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return "That is not a URL MGX can call."
    return f"Could not reach {where}: {type(exc).__name__}."


def endpoint_check(*, base_url: str, api_key: str, model: str, timeout: float = 20.0) -> EndpointCheck:
    """One small chat completion (not streamed) at `base_url`/chat/completions with `model`,
    as the team would call it, from this process. Never follows a redirect (a Location could
    point anywhere this host reaches). The key goes in the Authorization header only, and is
    scrubbed from anything the endpoint says back."""
    if not base_url:
        return EndpointCheck(False, "No endpoint is set.")
    url = base_url.rstrip("/") + "/chat/completions"
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"

    def scrub(text: str) -> str:
        text = " ".join(text.split())
        if api_key and len(api_key) >= 4:
            text = text.replace(api_key, "•••")
        return text[:SHOWN] + ("…" if len(text) > SHOWN else "")

    began = time.monotonic()
    try:
        with requests.post(url, json={"model": model, "messages": [{"role": "user", "content": CHECK_PROMPT}],
                                      "max_tokens": 16, "temperature": 0, "stream": False},
                           headers={"Authorization": f"Bearer {api_key or 'not-needed'}", "Accept": "application/json"},
                           timeout=(min(timeout, 10.0), timeout), allow_redirects=False, stream=True) as got:
            raw = got.raw.read(CHECK_BODY_LIMIT, decode_content=True)
            status, location = got.status_code, got.headers.get("Location", "")
    except requests.RequestException as exc:
        return EndpointCheck(False, _unreachable(exc, where, timeout), elapsed_ms=(time.monotonic() - began) * 1000)
    elapsed = (time.monotonic() - began) * 1000
    said = scrub(_endpoint_said(raw)) if status >= 400 else ""

    def failed(message: str) -> EndpointCheck:
        return EndpointCheck(False, message, status=status, elapsed_ms=elapsed)

    if 300 <= status < 400:
        return failed(f"The endpoint answered with a redirect (HTTP {status}) to {scrub(location) or 'nowhere'}; "
                      "MGX does not follow it. Use the address it names as the endpoint.")
    if status in (401, 403):
        return failed(f"The endpoint refused the key (HTTP {status}): {said or 'no reason given'}. "
                      "Check the API key (and that this endpoint needs one).")
    lowered = said.lower()
    unknown_model = "model_not_found" in lowered or bool(model) and model.lower() in lowered and any(
        words in lowered for words in ("not found", "does not exist", "unknown", "invalid model", "no such",
                                       "not available", "not supported", "pull"))
    if status in (400, 404, 422) and unknown_model:
        return failed(f"The endpoint does not know the model '{model}' (HTTP {status}): {said}")
    if status == 404:
        return failed(f"Nothing answers at {url} (HTTP 404): is the endpoint right? OpenAI-compatible endpoints "
                      "usually end in /v1.")
    if status >= 400:
        return failed(f"The endpoint answered HTTP {status}: {said or 'no reason given'}")
    try:
        data = json.loads(raw)
        answer = data["choices"][0]["message"].get("content") or ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return failed(f"The endpoint answered HTTP {status}, but not with an OpenAI-compatible chat completion "
                      f"(is {url} the right address?).")
    answered_by = str(data.get("model") or model)[:200]
    return EndpointCheck(True, f"The model answered in {elapsed:,.0f} ms.", answer=scrub(str(answer)) or "(an empty answer)",
                         model=answered_by, status=status, elapsed_ms=elapsed)
