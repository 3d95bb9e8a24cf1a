"""The team as a LangGraph graph: one `agent` node (whichever role's turn it is calls the model)
and one `tools` node (runs exactly one pending tool call per step).

One tool call per step matters for interrupts: LangGraph re-runs an interrupted node from its
start when it resumes, so a node must do nothing irreversible before `interrupt()`. With one
call per step, what ran before is already in the checkpoint and only the paused call runs again.

State (checkpointed in MongoDB, thread = the session slug, so the conversation outlives any
process):
- messages: the team leader's conversation with the user (user messages, the leader's replies
  and tool calls, and each member's report as the result of the leader's `assign` call)
- role / task / assign_call / work: whose turn it is, the task they got, and their own
  working messages for that task (a member starts each task fresh, with the task as its brief)
- pending: tool calls of the last model reply not yet run
- seen: path → the file version the agent last read or wrote (None: deleted), to tell the
  user's edits from its own
- gate: the pending call that must wait for the user (set one step before it asks)

Everything that is per run and not per conversation (step count, tokens, loop guard, the
outcome) lives in `RunContext`, which the runner builds for each process.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, TypedDict

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt

from . import llm, prompts
from .tools import CONTROL_TOOLS, REJECTED, ROLE_TOOLS, ToolResult, Tools, approval_needed, call_signature, schemas_for

EVENT_OUTPUT_LIMIT = 4000
CONTEXT_CHAR_BUDGET = 400_000  # characters of leader history sent to the model (oldest turns dropped)
DELTA_FLUSH_CHARS = 24
DELTA_FLUSH_SECONDS = 0.08


def _merge_seen(old: dict | None, new: dict | None) -> dict:
    merged = dict(old or {})
    for path, version in (new or {}).items():
        if version is None:
            merged.pop(path, None)
        else:
            merged[path] = version
    return merged


class TeamState(TypedDict, total=False):
    messages: Annotated[list[BaseMessage], add_messages]
    role: str
    task: str
    assign_call: str
    work: list[BaseMessage]
    pending: list[dict]
    seen: Annotated[dict, _merge_seen]
    gate: dict  # {"call_id", "kind", "reason"}: the pending call that waits for the user


@dataclass
class Outcome:
    status: str  # done | steps | budget | loop
    summary: str


@dataclass
class RunContext:
    session: str
    run_id: str
    app_name: str
    framework: str
    tools: Tools
    emit: Callable[[str, dict], Any]
    record_usage: Callable[[str, llm.ModelReply], None]
    max_steps: int
    run_token_budget: int
    app_token_budget: int
    app_tokens_before: int = 0
    loop_limit: int = 3
    steps: int = 0
    run_tokens: int = 0
    fail_sig: str = ""
    fail_count: int = 0
    last_role: str = ""
    outcome: Outcome | None = None
    last_text: str = ""
    cancelled: Callable[[], bool] = lambda: False
    extra: dict = field(default_factory=dict)

    @property
    def ws(self):
        return self.tools.ws

    # ------------------------------------------------------------------ chat

    def say(self, role: str, text: str) -> None:
        """One whole assistant message in the chat (limits, notices)."""
        self.emit("MESSAGE_DELTA", {"role": role, "message_id": uuid.uuid4().hex, "text": text})

    def turn(self, role: str) -> None:
        if role != self.last_role:
            self.emit("AGENT_START", {"role": role})
            self.last_role = role

    def stop(self, status: str, text: str) -> dict:
        self.say("team_leader", text)
        self.outcome = Outcome(status, text)
        return {"messages": [AIMessage(content=text)], "pending": []}

    # ------------------------------------------------------------------ limits

    def track(self, sig: str, ok: bool) -> bool:
        """Loop guard: True when the same call has now failed `loop_limit` times in a row."""
        if ok:
            self.fail_sig, self.fail_count = "", 0
        elif sig == self.fail_sig:
            self.fail_count += 1
        else:
            self.fail_sig, self.fail_count = sig, 1
        return self.fail_count >= self.loop_limit

    def limit_reached(self) -> tuple[str, str] | None:
        if self.cancelled():
            return "cancelled", ""
        if self.steps >= self.max_steps:
            return "steps", prompts.LIMIT_MESSAGES["steps"].format(limit=self.max_steps)
        if self.run_tokens >= self.run_token_budget:
            return "budget", prompts.LIMIT_MESSAGES["budget_run"].format(used=self.run_tokens,
                                                                         limit=self.run_token_budget)
        app_used = self.app_tokens_before + self.run_tokens
        if app_used >= self.app_token_budget:
            return "budget", prompts.LIMIT_MESSAGES["budget_app"].format(used=app_used, limit=self.app_token_budget)
        return None


# ---------------------------------------------------------------------- messages


def _answered_ids(messages: list[BaseMessage]) -> set[str]:
    return {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}


def repaired(messages: list[BaseMessage]) -> list[BaseMessage]:
    """The history as the model must see it: every tool call answered (a run that stopped or was
    superseded leaves calls without results, which OpenAI-compatible servers refuse)."""
    answered = _answered_ids(messages)
    out: list[BaseMessage] = []
    for m in messages:
        out.append(m)
        if isinstance(m, AIMessage):
            for call in m.tool_calls or []:
                if call["id"] not in answered:
                    out.append(ToolMessage(content="Not done: the run stopped before this finished.",
                                           tool_call_id=call["id"], name=call["name"]))
    return out


def trimmed(messages: list[BaseMessage], budget: int = CONTEXT_CHAR_BUDGET) -> list[BaseMessage]:
    """Drop the oldest turns (whole, from a user message on) until the history fits."""
    def size(m: BaseMessage) -> int:
        return len(m.content) if isinstance(m.content, str) else len(json.dumps(m.content, default=str))

    total = sum(size(m) for m in messages)
    start = 0
    while total > budget:
        nxt = next((i for i in range(start + 1, len(messages)) if isinstance(messages[i], HumanMessage)), None)
        if nxt is None:
            break
        total -= sum(size(m) for m in messages[start:nxt])
        start = nxt
    return messages[start:]


def compacted(messages: list[BaseMessage], budget: int = CONTEXT_CHAR_BUDGET) -> list[BaseMessage]:
    """A member's working messages within budget: the oldest tool outputs are dropped (the model
    can read a file again), the calls and the replies stay."""
    sizes = [len(m.content) if isinstance(m.content, str) else 0 for m in messages]
    total = sum(sizes)
    if total <= budget:
        return messages
    out = list(messages)
    for i, m in enumerate(out):
        if total <= budget:
            break
        if isinstance(m, ToolMessage) and sizes[i] > 200:
            out[i] = ToolMessage(content="(older output dropped to keep the context small; run the tool again "
                                         "if you need it)", tool_call_id=m.tool_call_id, name=m.name)
            total -= sizes[i] - 90
    return out


def event_args(args: dict) -> dict:
    """Tool arguments as the chat shows them: long texts (a whole file's content) are cut."""
    return {k: (v[:EVENT_OUTPUT_LIMIT] + "…" if isinstance(v, str) and len(v) > EVENT_OUTPUT_LIMIT else v)
            for k, v in args.items()}


def _text(message: AIMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


# ---------------------------------------------------------------------- the graph


def build_graph(ctx: RunContext, checkpointer):
    def model_input(state: TeamState, role: str) -> list[BaseMessage]:
        system = SystemMessage(content=prompts.system_prompt(role=role, app_name=ctx.app_name,
                                                             framework=ctx.framework))
        if role == "team_leader":
            return [system, *trimmed(repaired(list(state.get("messages") or [])))]
        asked = next((m.content for m in reversed(state.get("messages") or [])
                      if isinstance(m, HumanMessage) and isinstance(m.content, str)), "")
        brief = HumanMessage(content=prompts.task_prompt(role=role, task=state.get("task") or "", request=asked))
        return [system, brief, *compacted(repaired(list(state.get("work") or [])))]

    def agent(state: TeamState) -> dict:
        role = state.get("role") or "team_leader"
        limit = ctx.limit_reached()
        if limit and limit[0] == "cancelled":
            # The user cancelled: MGX already said so in the chat; stop quietly.
            ctx.outcome = Outcome("cancelled", "Cancelled.")
            return {"pending": []}
        if limit:
            return ctx.stop(*limit)
        ctx.turn(role)
        message_id = uuid.uuid4().hex
        buffer: list[str] = []
        last_flush = [time.monotonic()]

        def flush():
            if buffer:
                ctx.emit("MESSAGE_DELTA", {"role": role, "message_id": message_id, "text": "".join(buffer)})
                buffer.clear()
            last_flush[0] = time.monotonic()

        def on_text(piece: str):
            buffer.append(piece)
            if sum(map(len, buffer)) >= DELTA_FLUSH_CHARS or time.monotonic() - last_flush[0] >= DELTA_FLUSH_SECONDS:
                flush()

        ctx.steps += 1
        reply = llm.model_call(role=role, messages=model_input(state, role), tools=schemas_for(role), on_text=on_text)
        flush()
        ctx.run_tokens += reply.prompt_tokens + reply.completion_tokens
        ctx.record_usage(role, reply)
        ai = reply.message
        text = _text(ai).strip()
        ctx.last_text = text

        allowed = set(ROLE_TOOLS[role])
        calls, refused = [], []
        control_seen = False
        for call in ai.tool_calls or []:
            if llm.INVALID_ARGS in (call.get("args") or {}):
                refused.append(ToolMessage(content=f"Error: the arguments of {call['name']} were not valid JSON; "
                                                   "send them again as a JSON object.",
                                           tool_call_id=call["id"], name=call["name"], status="error"))
            elif call["name"] not in allowed:
                refused.append(ToolMessage(content=f"There is no tool named {call['name']!r} for the {role}.",
                                           tool_call_id=call["id"], name=call["name"]))
            elif call["name"] in CONTROL_TOOLS:
                if control_seen:
                    refused.append(ToolMessage(content="Ignored: one assign or finish per reply.",
                                               tool_call_id=call["id"], name=call["name"]))
                else:
                    control_seen = True
                    calls.append(call)
            else:
                calls.append(call)
        for bad in refused:
            if ctx.track(call_signature(bad.name or "", {"refused": bad.content}), False):
                stop = ctx.stop("loop", prompts.loop_message(tool=bad.name, limit=ctx.loop_limit, error=bad.content[:300]))
                if role == "team_leader":
                    return {"messages": [ai, *refused, *stop["messages"]], "pending": []}
                return {"work": [*(state.get("work") or []), ai, *refused], "messages": stop["messages"],
                        "pending": []}
        # Control calls run last: the leader's other calls (reading a file, say) come first.
        calls.sort(key=lambda c: c["name"] in CONTROL_TOOLS)

        if role == "team_leader":
            update: dict = {"messages": [ai, *refused], "pending": calls}
            if not calls and not refused:
                ctx.outcome = Outcome("done", text or "Done.")
            return update  # refused calls only: the leader sees why and tries again
        work = [*(state.get("work") or []), ai, *refused]
        if calls or refused:
            return {"work": work, "pending": calls}
        # No tool call: the member's reply is its report to the leader, as the assign call's result.
        report = ToolMessage(content=f"Report from the {prompts.ROLE_NAMES[role]}:\n{text or '(no report)'}",
                             tool_call_id=state.get("assign_call") or "missing", name="assign")
        return {"messages": [report], "work": [], "pending": [], "role": "team_leader", "task": "",
                "assign_call": ""}

    def tools(state: TeamState) -> dict:
        role = state.get("role") or "team_leader"
        pending = list(state.get("pending") or [])
        if not pending:
            return {}
        call, rest = pending[0], pending[1:]
        name, args, call_id = call["name"], dict(call.get("args") or {}), call["id"]

        if name == "assign":
            target = args.get("role")
            if target not in ROLE_TOOLS or target == "team_leader":
                return _answer(role, state, call, ToolResult(False, f"Unknown team member {target!r}."), rest)
            ctx.emit("TOOL_START", {"role": role, "tool": name, "call_id": call_id, "args": event_args(args)})
            ctx.emit("TOOL_END", {"role": role, "tool": name, "call_id": call_id, "ok": True,
                                  "output": f"Assigned to the {prompts.ROLE_NAMES[target]}."})
            return {"pending": [], "role": target, "task": str(args.get("task") or ""), "work": [],
                    "assign_call": call_id}
        if name == "finish":
            summary = str(args.get("summary") or ctx.last_text or "Done.")
            if not ctx.last_text:
                ctx.say("team_leader", summary)
            ctx.outcome = Outcome("done", summary)
            return {"pending": [], "messages": [ToolMessage(content="Finished.", tool_call_id=call_id, name=name)]}

        # Two passes for a call that needs the user: the first stores the decision to ask in the
        # state (checkpointed), the second asks. A resumed node re-runs from its start, and must
        # ask the same question it asked before even if the files changed in between; otherwise
        # a rejected write could go ahead because the reason to ask went away.
        gate = state.get("gate") or {}
        if gate.get("call_id") == call_id:
            pause = (gate["kind"], gate["reason"])
        else:
            pause = approval_needed(ctx.ws, name, args, state.get("seen") or {})
            if pause:
                return {"gate": {"call_id": call_id, "kind": pause[0], "reason": pause[1]}}
        if pause:
            kind, reason = pause
            decision = interrupt({"call_id": call_id, "tool": name, "args": event_args(args), "kind": kind,
                                  "reason": reason, "role": role})
            decision = decision if isinstance(decision, dict) else {"approved": bool(decision)}
            if kind == "question":
                answer = decision.get("answer")
                if decision.get("approved", True) and answer:
                    result = ToolResult(True, f"The user answered: {answer}")
                else:
                    result = ToolResult(False, "The user did not answer the question.")
                ctx.emit("TOOL_START", {"role": role, "tool": name, "call_id": call_id, "args": event_args(args)})
                return _answer(role, state, call, result, rest, loop_guard=False)
            if not decision.get("approved"):
                ctx.emit("TOOL_START", {"role": role, "tool": name, "call_id": call_id, "args": event_args(args)})
                return _answer(role, state, call, ToolResult(False, REJECTED), rest, loop_guard=False)
            if name == "run_command" and decision.get("command"):
                args = {**args, "command": str(decision["command"])}

        ctx.emit("TOOL_START", {"role": role, "tool": name, "call_id": call_id, "args": event_args(args)})
        result = ctx.tools.run(name, args)
        for path, action in result.changed:
            ctx.emit("FILE_CHANGED", {"path": path, "action": action})
        return _answer(role, state, call, result, rest, args=args)

    def _answer(role: str, state: TeamState, call: dict, result: ToolResult, rest: list, *,
                loop_guard: bool = True, args: dict | None = None) -> dict:
        output = result.output if isinstance(result.output, str) else str(result.output)
        ctx.emit("TOOL_END", {"role": role, "tool": call["name"], "call_id": call["id"], "ok": result.ok,
                              "output": output[:EVENT_OUTPUT_LIMIT]})
        for_model = output if len(output) <= 60_000 else output[:60_000] + "\n… (cut)"
        if not result.ok and not for_model.startswith(("Error", "The user")):
            for_model = f"Error: {for_model}"
        message = ToolMessage(content=for_model or "(empty)", tool_call_id=call["id"], name=call["name"],
                              status="success" if result.ok else "error")
        update: dict = {"pending": rest, "seen": result.seen, "gate": {}}
        if role == "team_leader":
            update["messages"] = [message]
        else:
            update["work"] = [*(state.get("work") or []), message]
        if loop_guard:
            sig = call_signature(call["name"], args if args is not None else call.get("args") or {})
            if ctx.track(sig, result.ok):
                stop = ctx.stop("loop", prompts.loop_message(tool=call["name"], limit=ctx.loop_limit, error=output[:300]))
                if role == "team_leader":
                    update["messages"] = [message, *stop["messages"]]
                else:
                    update["messages"] = stop["messages"]
                update["pending"] = []
        return update

    def after_agent(state: TeamState) -> str:
        if ctx.outcome:
            return END
        return "tools" if state.get("pending") else "agent"

    graph = StateGraph(TeamState)
    graph.add_node("agent", agent)
    graph.add_node("tools", tools)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", after_agent, ["tools", "agent", END])
    graph.add_conditional_edges("tools", after_agent, ["tools", "agent", END])
    return graph.compile(checkpointer=checkpointer)


def new_turn(text: str) -> dict:
    """The graph input for a user's message: the leader's turn, nothing pending."""
    return {"messages": [HumanMessage(content=text)], "role": "team_leader", "task": "", "assign_call": "",
            "work": [], "pending": [], "gate": {}}
