from dataclasses import dataclass, field

from django.conf import settings

from core.sealed import unseal
from sessions_app.selectors import app_by_slug

from .documents import AgentEvent, AgentRun, CheckpointBlob, CheckpointWrite, UsageRecord, token_hash
from .models import DEFAULT_MODEL, ROLES, ModelSettings

KEY_PURPOSE = "model-api-key"  # what core.sealed seals the model's key for
ENVIRONMENT, ADMIN, DEFAULT = "environment", "admin", "default"  # where a value in force comes from


@dataclass(frozen=True)
class ModelConfig:
    """The model endpoint in force now: each value from MGX's environment when set there (it
    wins), else from the admin page, else the default. `sources` says which, per value:
    "base_url", "api_key", "model" and "role:<role>" -> ENVIRONMENT, ADMIN, DEFAULT or "" (none).
    The key is MGX's to hand on, never to show (not in the repr either)."""

    base_url: str
    api_key: str = field(repr=False)
    model: str
    role_models: dict
    sources: dict
    stored: ModelSettings | None = field(default=None, repr=False, compare=False)
    key_unreadable: bool = False  # a stored key that no longer opens (MGX's secret key changed)

    @property
    def configured(self) -> bool:
        return bool(self.base_url)

    @property
    def key_set(self) -> bool:
        return bool(self.api_key)

    def model_for(self, role: str) -> str:
        return self.role_models.get(role) or self.model

    def from_environment(self) -> list[str]:
        return [name for name, source in self.sources.items() if source == ENVIRONMENT]


def model_settings_stored() -> ModelSettings | None:
    return ModelSettings.objects.filter(pk=ModelSettings.SINGLETON).first()


def model_config() -> ModelConfig:
    """What the next run uses (read afresh each time: the page applies without a restart)."""
    stored = model_settings_stored()
    sources: dict[str, str] = {}

    def pick(name: str, env_value: str, admin_value: str, default: str = "") -> str:
        if env_value:
            sources[name] = ENVIRONMENT
            return env_value
        if admin_value:
            sources[name] = ADMIN
            return admin_value
        sources[name] = DEFAULT if default else ""
        return default

    stored_key = unseal(KEY_PURPOSE, stored.api_key_sealed) if stored else None
    base_url = pick("base_url", settings.MGX_LLM_BASE_URL, stored.base_url if stored else "")
    api_key = pick("api_key", settings.MGX_LLM_API_KEY, stored_key or "")
    model = pick("model", settings.MGX_LLM_MODEL, stored.model if stored else "", DEFAULT_MODEL)
    env_roles, admin_roles = settings.MGX_LLM_ROLE_MODELS or {}, (stored.role_models if stored else {}) or {}
    role_models = {}
    for role in ROLES:
        chosen = pick(f"role:{role}", env_roles.get(role, ""), str(admin_roles.get(role) or ""))
        if chosen:
            role_models[role] = chosen
    return ModelConfig(base_url=base_url, api_key=api_key, model=model, role_models=role_models, sources=sources,
                       stored=stored, key_unreadable=bool(stored and stored.api_key_sealed and stored_key is None))


def model_configured() -> bool:
    """Whether the team has a model endpoint now (the chat's Send waits for one)."""
    return model_config().configured


def events_since(*, session: str, after_seq: int = 0, limit: int = 1000) -> list[AgentEvent]:
    """The events a reconnecting browser has not seen yet, oldest first."""
    return list(AgentEvent.objects(session=session, seq__gt=after_seq).order_by("seq").limit(limit))


def run_get(*, run_id: str) -> AgentRun | None:
    return AgentRun.objects(run_id=run_id).first()


def run_for_token(*, token: str) -> tuple[AgentRun, object] | None:
    """The running run a bearer token was made for, and its app; None for anything else (no
    token, a wrong one, or the token of a run that has ended: its token dies with it)."""
    token = (token or "").strip()
    if not token:
        return None
    run = AgentRun.objects(token_hash=token_hash(token), status="running").first()
    app = app_by_slug(slug=run.session) if run else None
    return (run, app) if app is not None else None


def runs_for_session(*, session: str, limit: int = 20) -> list[AgentRun]:
    return list(AgentRun.objects(session=session).order_by("-created_at").limit(limit))


def usage_for_session(*, session: str) -> dict:
    """Tokens and cost summed over every model call of the app."""
    totals = {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0, "calls": 0}
    for record in UsageRecord.objects(session=session).only("prompt_tokens", "completion_tokens", "cost"):
        totals["prompt_tokens"] += record.prompt_tokens
        totals["completion_tokens"] += record.completion_tokens
        totals["cost"] += record.cost
        totals["calls"] += 1
    return totals


def _checkpoint_dict(doc: CheckpointBlob) -> dict:
    writes = CheckpointWrite.objects(session=doc.session, ns=doc.ns, checkpoint_id=doc.checkpoint_id)
    return {
        "ns": doc.ns, "id": doc.checkpoint_id, "parent_id": doc.parent_id or "", "type": doc.type,
        "checkpoint": bytes(doc.checkpoint or b""), "metadata_type": doc.metadata_type,
        "metadata": bytes(doc.metadata or b""),
        "writes": [{"task_id": w.task_id, "task_path": w.task_path, "idx": w.idx, "channel": w.channel,
                    "type": w.type, "value": bytes(w.value or b"")}
                   for w in sorted(writes, key=lambda w: (w.task_path, w.task_id, w.idx))],
    }


def checkpoint_get(*, session: str, ns: str, checkpoint_id: str = "") -> dict | None:
    """A session's checkpoint (the newest when no id is given) with its pending writes, as
    opaque bytes."""
    found = CheckpointBlob.objects(session=session, ns=ns)
    if checkpoint_id:
        found = found.filter(checkpoint_id=checkpoint_id)
    doc = found.order_by("-checkpoint_id").first()
    return _checkpoint_dict(doc) if doc else None


def checkpoints_list(*, session: str, ns: str | None = None, before: str = "", limit: int = 100) -> list[dict]:
    """A session's checkpoints, newest first."""
    found = CheckpointBlob.objects(session=session)
    if ns is not None:
        found = found.filter(ns=ns)
    if before:
        found = found.filter(checkpoint_id__lt=before)
    return [_checkpoint_dict(doc) for doc in found.order_by("-checkpoint_id").limit(limit)]


def run_in_session(*, session: str, run_id: str) -> AgentRun | None:
    """A run of this app only: a run id from another app answers None, like an unknown one."""
    return AgentRun.objects(run_id=run_id, session=session).first()


def interrupt_waiting(*, session: str, run_id: str) -> dict | None:
    """The question or approval a waiting run stopped at (its INTERRUPT payload), else None."""
    run = run_in_session(session=session, run_id=run_id)
    if run is None or run.status != "waiting":
        return None
    asked = AgentEvent.objects(session=session, run=run_id, type="INTERRUPT").order_by("-seq").first()
    return dict(asked.payload) if asked else None


def run_task(*, session: str, run_id: str) -> dict | None:
    """One run as a script sees it: status, what it changed, what it cost, what the team said
    last, what it waits for. None when the app has no such run."""
    run = run_in_session(session=session, run_id=run_id)
    if run is None:
        return None
    evs = list(AgentEvent.objects(session=session, run=run_id,
                                  type__in=("FILE_CHANGED", "MESSAGE_DELTA", "FINISH", "INTERRUPT")).order_by("seq"))
    changed: dict[str, str] = {}
    for e in evs:
        if e.type != "FILE_CHANGED":
            continue
        path, action = e.payload.get("path", ""), e.payload.get("action", "")
        # A file this run created stays "created" however often it was edited afterwards.
        if changed.get(path) == "created" and action == "edited":
            continue
        changed.pop(path, None)
        changed[path] = action
    deltas = [e for e in evs if e.type == "MESSAGE_DELTA"]
    last_message = ""
    if deltas:
        last_id = deltas[-1].payload.get("message_id")
        last_message = "".join(e.payload.get("text", "") for e in deltas if e.payload.get("message_id") == last_id)
    finish = next((e.payload for e in reversed(evs) if e.type == "FINISH"), None)
    asked = next((e.payload for e in reversed(evs) if e.type == "INTERRUPT"), None) if run.status == "waiting" else None
    return {
        "run_id": run.run_id,
        "status": run.status,
        "outcome": (finish or {}).get("status"),
        "summary": run.summary or (finish or {}).get("summary") or "",
        "commit": (finish or {}).get("commit"),
        "input": run.input,
        "resume": dict(run.resume) if run.resume else None,
        "changed_files": [{"path": p, "action": a} for p, a in changed.items()],
        "usage": {"prompt_tokens": run.prompt_tokens, "completion_tokens": run.completion_tokens,
                  "total_tokens": run.prompt_tokens + run.completion_tokens, "cost": run.cost},
        "last_message": last_message,
        "interrupt": dict(asked) if asked else None,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
    }


def last_request(*, session: str) -> str:
    """The newest thing the person asked the team in their own words (not an answer to a card,
    not an error report MGX wrote for them); "" when there is none."""
    for event in AgentEvent.objects(session=session, type="USER_MESSAGE").order_by("-seq").limit(50):
        payload = event.payload or {}
        if not payload.get("resume") and not payload.get("report") and payload.get("text"):
            return str(payload["text"])
    return ""
