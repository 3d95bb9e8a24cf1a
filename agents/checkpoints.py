"""The LangGraph checkpoint saver of the agent container: it stores through MGX's internal API.

The container serialises (LangGraph's own serde) and sends bytes, base64 in JSON; MGX keeps them
in MongoDB under the run's session (the thread id is always the slug, whatever is sent) and
hands them back as they came. Only the container ever deserialises them, so nothing it sends
can run as code on the host. Conversations therefore outlive each run's container exactly as
before: a later run, or the resume of an interrupt, reads the same checkpoints.
"""
from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)

from .agent_client import AgentApi


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class ApiCheckpointSaver(BaseCheckpointSaver):
    def __init__(self, api: AgentApi, *, serde=None):
        super().__init__(serde=serde)
        self.api = api

    # reading ------------------------------------------------------------------------

    def _tuple(self, thread_id: str, found: dict) -> CheckpointTuple:
        ns = found["ns"]
        writes = [(w["task_id"], w["channel"], self.serde.loads_typed((w["type"], base64.b64decode(w["value"]))))
                  for w in found["writes"]]
        parent = found.get("parent_id") or ""
        return CheckpointTuple(
            config={"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": found["id"]}},
            checkpoint=self.serde.loads_typed((found["type"], base64.b64decode(found["checkpoint"]))),
            metadata=self.serde.loads_typed((found["metadata_type"], base64.b64decode(found["metadata"]))),
            parent_config=({"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": parent}}
                           if parent else None),
            pending_writes=writes,
        )

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        conf = config["configurable"]
        found = self.api.call("GET", "/checkpoints/latest",
                              params={"ns": conf.get("checkpoint_ns", ""), "id": get_checkpoint_id(config) or ""})
        return self._tuple(conf["thread_id"], found["checkpoint"]) if found.get("checkpoint") else None

    def list(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
             before: RunnableConfig | None = None, limit: int | None = None) -> Iterator[CheckpointTuple]:
        conf = (config or {}).get("configurable", {})
        params = {"limit": 1000}
        if "checkpoint_ns" in conf:
            params["ns"] = conf["checkpoint_ns"]
        if before is not None:
            params["before"] = get_checkpoint_id(before) or ""
        found = self.api.call("GET", "/checkpoints", params=params)["checkpoints"]
        given = 0
        for item in found:
            tup = self._tuple(conf.get("thread_id", ""), item)
            if filter and any(tup.metadata.get(k) != v for k, v in filter.items()):
                continue
            yield tup
            given += 1
            if limit is not None and given >= limit:
                return

    # writing ------------------------------------------------------------------------

    def put(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
            new_versions: ChannelVersions) -> RunnableConfig:
        conf = config["configurable"]
        ns = conf.get("checkpoint_ns", "")
        type_, blob = self.serde.dumps_typed(checkpoint)
        meta_type, meta = self.serde.dumps_typed(get_checkpoint_metadata(config, metadata))
        self.api.call("POST", "/checkpoints", body={
            "ns": ns, "id": checkpoint["id"], "parent_id": conf.get("checkpoint_id") or "", "type": type_,
            "checkpoint": _b64(blob), "metadata_type": meta_type, "metadata": _b64(meta)}, timeout=120)
        return {"configurable": {"thread_id": conf["thread_id"], "checkpoint_ns": ns, "checkpoint_id": checkpoint["id"]}}

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                   task_path: str = "") -> None:
        conf = config["configurable"]
        encoded = []
        for idx, (channel, value) in enumerate(writes):
            type_, blob = self.serde.dumps_typed(value)
            encoded.append({"idx": WRITES_IDX_MAP.get(channel, idx), "channel": channel, "type": type_,
                            "value": _b64(blob)})
        self.api.call("POST", "/checkpoints/writes", body={
            "ns": conf.get("checkpoint_ns", ""), "checkpoint_id": conf["checkpoint_id"], "task_id": task_id,
            "task_path": task_path, "writes": encoded,
            # Errors, interrupts and resumes may be replaced; a regular write is kept as first stored.
            "replace": all(channel in WRITES_IDX_MAP for channel, _ in writes)}, timeout=120)

    def delete_thread(self, thread_id: str) -> None:
        raise NotImplementedError("MGX forgets a conversation itself (agents.services.conversation_forget).")
