"""The runner's one way to MGX: the internal agent API, with the run's token.

The agent container reaches no database: everything it records (events, usage, its status,
checkpoints, the commit) is a call here, and MGX writes it on the host. A 401 means the run is
no longer running (cancelled, or ended by MGX), so its token is dead: `RunEnded`.
"""
from __future__ import annotations

import os

import requests
from django.conf import settings


class RunEnded(Exception):
    """MGX no longer accepts this run's token: it was cancelled or has ended."""


class AgentApiError(Exception):
    """MGX refused a call or could not be reached; the message says what happened."""


def api_token() -> str:
    return os.environ.get("MGX_AGENT_TOKEN", "")


def api_url() -> str:
    return getattr(settings, "MGX_AGENT_API_URL", "") or os.environ.get("MGX_AGENT_API_URL", "")


class AgentApi:
    def __init__(self, url: str = "", token: str = "", *, timeout: float = 30):
        self.url = (url or api_url()).rstrip("/")
        self.token = token or api_token()
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def call(self, method: str, path: str, *, body: dict | None = None, params: dict | None = None,
             timeout: float | None = None) -> dict:
        if not self.url:
            raise AgentApiError("MGX's internal agent API is not configured (MGX_AGENT_API_URL).")
        try:
            got = self.http.request(method, self.url + path, json=body, params=params,
                                    timeout=timeout or self.timeout)
        except requests.RequestException as exc:
            raise AgentApiError(f"MGX could not be reached at {self.url}: {type(exc).__name__}") from exc
        if got.status_code == 401:
            raise RunEnded("This run is no longer running.")
        try:
            data = got.json()
        except ValueError:
            data = {"error": got.text[:500]}
        if got.status_code >= 400:
            raise AgentApiError(f"MGX answered {got.status_code} to {method} {path}: {data.get('error', '')}")
        return data

    # the run's own records -----------------------------------------------------------

    def run(self) -> dict:
        return self.call("GET", "/run")

    def cancelled(self) -> bool:
        try:
            return bool(self.call("GET", "/run/cancelled").get("cancelled"))
        except RunEnded:
            return True

    def event(self, type_: str, payload: dict) -> int:
        return self.call("POST", "/events", body={"type": type_, "payload": payload})["seq"]

    def usage(self, *, role: str, model: str, prompt_tokens: int, completion_tokens: int, cost: float,
              started_at: float = 0.0, duration_ms: float = 0.0) -> None:
        """Records one model call (summed on the run and the app by MGX, and a span of MGX's own
        telemetry made from its start and duration)."""
        self.call("POST", "/usage", body={"role": role, "model": model, "prompt_tokens": prompt_tokens,
                                          "completion_tokens": completion_tokens, "cost": cost,
                                          "started_at": started_at, "duration_ms": duration_ms})

    def session_usage(self) -> dict:
        return self.call("GET", "/usage/session")

    def finish(self, status: str, summary: str) -> str:
        return self.call("POST", "/run/finish", body={"status": status, "summary": summary})["status"]

    def commit(self, message: str) -> str:
        return self.call("POST", "/commit", body={"message": message}, timeout=120)["commit"]
