"""A scripted OpenAI-compatible model server, for tests and benchmarks.

It is a real HTTP server (stdlib, in a thread, on a free port of `host`: loopback by default;
the agents tests put it on the Docker bridge address, where agent containers reach it) answering
`POST /v1/chat/completions` both streamed (SSE chunks, tool-call deltas, a final usage chunk
when `stream_options.include_usage` is set) and not streamed. It replays scripted replies in
order and records every request it received, so a test can assert what the model was sent
(the system prompt, the tools, the tool results).

    with ScriptedLLM([reply(text="Hello"), reply(tool=("read_file", {"path": "README.md"}))]) as llm:
        settings.MGX_LLM_BASE_URL = llm.base_url      # http://127.0.0.1:<port>/v1
        ...
        llm.requests[1]["messages"][-1]               # the tool result the model was sent

Like a real endpoint it can also refuse: `api_key="sk-…"` answers 401 to any other bearer key
(repeating the key it was given, as some servers do), `known_models=("a", "b")` answers 404
(OpenAI's `model_not_found`) for any other model, and `redirect_to="http://…"` answers every
chat request with a 307 there (an endpoint that moved).

A script item is a dict {"text"?, "tool_calls"?: [{"name", "arguments", "id"?}], "usage"?:
{"prompt_tokens", "completion_tokens"}} or a callable taking the request body and returning
such a dict. When the script runs out the server answers 500 (a test that expected fewer model
calls fails loudly) unless `repeat_last=True`.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable

Reply = dict[str, Any]


def reply(text: str = "", *, tool: tuple[str, dict] | None = None, tools: Iterable[tuple[str, dict]] = (),
          usage: tuple[int, int] | None = None) -> Reply:
    """Shorthand for one scripted reply: text, and/or one or more tool calls, and usage."""
    calls = [{"name": n, "arguments": a} for n, a in ([tool] if tool else []) + list(tools)]
    out: Reply = {"text": text, "tool_calls": calls}
    if usage:
        out["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1]}
    return out


class ScriptedLLM:
    def __init__(self, script: Iterable[Reply | Callable[[dict], Reply]] = (), *, repeat_last: bool = False,
                 model: str = "scripted-model", chunk_chars: int = 12, host: str = "127.0.0.1",
                 api_key: str | None = None, known_models: Iterable[str] | None = None,
                 redirect_to: str | None = None):
        self.host = host
        self.redirect_to = redirect_to
        self.api_key = api_key
        self.known_models = set(known_models) if known_models is not None else None
        self.authorizations: list[str] = []  # the Authorization header of every chat request
        self.script = list(script)
        self.repeat_last = repeat_last
        self.model = model
        self.chunk_chars = chunk_chars
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._next = 0
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        assert self._server is not None, "the server is not running"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def start(self) -> "ScriptedLLM":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                if self.path.rstrip("/") == "/v1/models":
                    return self._json(200, {"object": "list", "data": [{"id": owner.model, "object": "model"}]})
                self._json(404, {"error": {"message": "not found"}})

            def do_POST(self):
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": f"no route {self.path}"}})
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    return self._json(400, {"error": {"message": "body is not JSON"}})
                given = self.headers.get("Authorization") or ""
                owner.authorizations.append(given)
                if owner.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", owner.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if owner.api_key is not None and given != f"Bearer {owner.api_key}":
                    return self._json(401, {"error": {"message": f"Incorrect API key provided: {given.removeprefix('Bearer ')}.",
                                                      "type": "invalid_request_error", "code": "invalid_api_key"}})
                if owner.known_models is not None and body.get("model") not in owner.known_models:
                    return self._json(404, {"error": {"message": f"The model `{body.get('model')}` does not exist or you "
                                                                 "do not have access to it.", "code": "model_not_found"}})
                item = owner._take(body)
                if item is None:
                    return self._json(500, {"error": {"message": "the scripted model has no reply left"}})
                if body.get("stream"):
                    self._stream(body, item)
                else:
                    self._json(200, owner._completion(body, item))

            def _json(self, status: int, data: dict):
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _stream(self, body: dict, item: Reply):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in owner._chunks(body, item):
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="scripted-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "ScriptedLLM":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ script

    def add(self, *items: Reply | Callable[[dict], Reply]) -> None:
        with self._lock:
            self.script.extend(items)

    @property
    def remaining(self) -> int:
        return len(self.script) - self._next

    def _take(self, body: dict) -> Reply | None:
        with self._lock:
            self.requests.append(body)
            if self._next < len(self.script):
                item = self.script[self._next]
                self._next += 1
            elif self.repeat_last and self.script:
                item = self.script[-1]
            else:
                return None
        item = item(body) if callable(item) else item
        calls = []
        for call in item.get("tool_calls") or []:
            args = call.get("arguments", {})
            calls.append({"id": call.get("id") or f"call_{uuid.uuid4().hex[:12]}", "name": call["name"],
                          "arguments": args if isinstance(args, str) else json.dumps(args)})
        text = item.get("text") or ""
        usage = item.get("usage") or {
            # Roughly what a real tokenizer would count, so budgets see plausible numbers.
            "prompt_tokens": max(1, len(json.dumps(body.get("messages", []))) // 4),
            "completion_tokens": max(1, (len(text) + sum(len(c["arguments"]) for c in calls)) // 4),
        }
        usage = {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}
        return {"text": text, "tool_calls": calls, "usage": usage}

    def _envelope(self, body: dict, obj: str) -> dict:
        return {"id": f"chatcmpl-{next(self._ids)}", "object": obj, "created": int(time.time()),
                "model": body.get("model") or self.model, "system_fingerprint": "scripted"}

    def _completion(self, body: dict, item: Reply) -> dict:
        message: dict[str, Any] = {"role": "assistant", "content": item["text"] or None}
        if item["tool_calls"]:
            message["tool_calls"] = [{"id": c["id"], "type": "function",
                                      "function": {"name": c["name"], "arguments": c["arguments"]}}
                                     for c in item["tool_calls"]]
        return {**self._envelope(body, "chat.completion"),
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": "tool_calls" if item["tool_calls"] else "stop"}],
                "usage": item["usage"]}

    def _chunks(self, body: dict, item: Reply):
        env = self._envelope(body, "chat.completion.chunk")

        def chunk(delta: dict, finish: str | None = None) -> dict:
            return {**env, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        yield chunk({"role": "assistant", "content": ""})
        text, n = item["text"], self.chunk_chars
        for i in range(0, len(text), n):
            yield chunk({"content": text[i:i + n]})
        for index, call in enumerate(item["tool_calls"]):
            yield chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                         "function": {"name": call["name"], "arguments": ""}}]})
            args = call["arguments"]
            for i in range(0, len(args), 16):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": args[i:i + 16]}}]})
        yield chunk({}, "tool_calls" if item["tool_calls"] else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            yield {**env, "choices": [], "usage": item["usage"]}

    # ------------------------------------------------------------------ what the model was sent

    def tool_results(self, request_index: int = -1) -> list[dict]:
        """The tool messages in one recorded request (default: the last)."""
        return [m for m in self.requests[request_index].get("messages", []) if m.get("role") == "tool"]
