"""The model endpoint: any OpenAI-compatible server, called over HTTP by langchain-openai.

`model_call` streams one reply, hands each text piece to `on_text` as it arrives (the chat's
MESSAGE_DELTA events) and returns the whole message with its token usage. When the endpoint
reports no usage, the tokens are estimated (4 characters a token) and marked so: budgets still
hold with servers that do not count.

In the agent container the endpoint comes from its environment (MGX_LLM_*), which MGX fills at
the container's start from what is in force then (`agents.selectors.model_config`: the
environment, else what an admin set on /admin/model/). The admin page's Test call is
`agents.endpoint`, which needs none of langchain.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable

from django.conf import settings
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_openai import ChatOpenAI


from .models import DEFAULT_MODEL

INVALID_ARGS = "__invalid_json__"


def configured() -> bool:
    return bool(settings.MGX_LLM_BASE_URL)


def model_name(role: str) -> str:
    return (settings.MGX_LLM_ROLE_MODELS or {}).get(role) or settings.MGX_LLM_MODEL or DEFAULT_MODEL


def chat_model(role: str) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=settings.MGX_LLM_BASE_URL,
        api_key=settings.MGX_LLM_API_KEY or "not-needed",  # local servers take any key; the client wants one
        model=model_name(role),
        stream_usage=True,
        max_retries=2,
        timeout=300,
    )


def cost_of(prompt_tokens: int, completion_tokens: int) -> float:
    return round(prompt_tokens / 1000 * settings.MGX_LLM_PRICE_PROMPT
                 + completion_tokens / 1000 * settings.MGX_LLM_PRICE_COMPLETION, 8)


@dataclass
class ModelReply:
    message: AIMessage
    model: str
    prompt_tokens: int
    completion_tokens: int
    estimated: bool
    # When the call began (Unix seconds) and how long it took: MGX makes the call's span from them.
    started_at: float = 0.0
    duration_ms: float = 0.0

    @property
    def cost(self) -> float:
        return cost_of(self.prompt_tokens, self.completion_tokens)


def model_call(*, role: str, messages: list[BaseMessage], tools: list[dict],
               on_text: Callable[[str], None] | None = None) -> ModelReply:
    model = chat_model(role)
    bound = model.bind_tools(tools) if tools else model
    total: AIMessageChunk | None = None
    started_at, began = time.time(), time.monotonic()
    for chunk in bound.stream(messages):
        if on_text and isinstance(chunk.content, str) and chunk.content:
            on_text(chunk.content)
        total = chunk if total is None else total + chunk
    if total is None:
        total = AIMessageChunk(content="")
    calls = list(total.tool_calls)
    for bad in total.invalid_tool_calls or []:
        # Arguments that are not JSON still get an answer, so the model can correct itself.
        calls.append({"name": bad.get("name") or "unknown", "id": bad.get("id") or "invalid",
                      "args": {INVALID_ARGS: str(bad.get("args") or "")}, "type": "tool_call"})
    message = AIMessage(content=total.content, tool_calls=calls, id=total.id,
                        response_metadata=total.response_metadata, usage_metadata=total.usage_metadata)
    timing = {"started_at": started_at, "duration_ms": (time.monotonic() - began) * 1000}
    usage = total.usage_metadata
    if usage and (usage.get("input_tokens") or usage.get("output_tokens")):
        return ModelReply(message, model.model_name, usage.get("input_tokens", 0), usage.get("output_tokens", 0), False,
                          **timing)
    sent = sum(len(m.content) if isinstance(m.content, str) else len(json.dumps(m.content)) for m in messages)
    out = len(message.content if isinstance(message.content, str) else "") + len(json.dumps(message.tool_calls))
    return ModelReply(message, model.model_name, max(1, sent // 4), max(1, out // 4), True, **timing)

