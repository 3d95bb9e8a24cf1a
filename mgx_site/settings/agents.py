"""The agent team: the model endpoint, limits, and how the runner reaches MGX."""
from mgx_site import defaults

from .env import MGX_PORT, env

# Any OpenAI-compatible endpoint (OpenAI, Zhipu GLM, Ollama, vLLM). An MGX admin can set it on
# /admin/model/ instead (agents.models.ModelSettings, read at each run: no restart); a variable
# set here wins over the page, field by field. Empty: not set here (the page's value, else none
# for the endpoint and key, gpt-4o-mini for the model). No endpoint at all: the chat says so and
# the team only scaffolds; it never pretends.
MGX_LLM_BASE_URL = env("MGX_LLM_BASE_URL", default="")
MGX_LLM_API_KEY = env("MGX_LLM_API_KEY", default="")
MGX_LLM_MODEL = env("MGX_LLM_MODEL", default="")
# Optional per role, e.g. MGX_LLM_MODEL_ENGINEER=gpt-4o.
MGX_LLM_ROLE_MODELS = {
    role: env(f"MGX_LLM_MODEL_{role.upper()}", default="")
    for role in ("team_leader", "product_manager", "architect", "engineer", "qa")
}
# Price per 1,000 tokens (prompt, completion) in the currency you bill in; 0 records tokens only.
MGX_LLM_PRICE_PROMPT = env.float("MGX_LLM_PRICE_PROMPT", default=0.0)
MGX_LLM_PRICE_COMPLETION = env.float("MGX_LLM_PRICE_COMPLETION", default=0.0)

MGX_AGENT_MAX_STEPS = env.int("MGX_AGENT_MAX_STEPS", default=60)  # model calls per run
MGX_AGENT_RUN_TOKEN_BUDGET = env.int("MGX_AGENT_RUN_TOKEN_BUDGET", default=400_000)
MGX_AGENT_APP_TOKEN_BUDGET = env.int("MGX_AGENT_APP_TOKEN_BUDGET", default=5_000_000)
MGX_AGENT_LOOP_LIMIT = env.int("MGX_AGENT_LOOP_LIMIT", default=3)  # same failing call repeated
MGX_AGENT_TIMEOUT = env.int("MGX_AGENT_TIMEOUT", default=1800)  # seconds per run
MGX_AGENT_IMAGE = env("MGX_AGENT_IMAGE", default="mgx/agent:1")
# Where the agent runner reaches MGX's internal agent API (its run, events, checkpoints, commit,
# exec, dev server, preview, logs). MGX sets it for each container
# (http://host.docker.internal:$MGX_INTERNAL_PORT/internal/agent); the bearer token is the run's
# own (env MGX_AGENT_TOKEN), scoped to one app and dead once the run ends.
MGX_AGENT_API_URL = env("MGX_AGENT_API_URL", default="")
# Daphne's second listener, for agent containers only: it answers nothing but the paths in
# mgx_site.asgi.INTERNAL_ONLY. Empty host: the Docker bridge's gateway address (docker0),
# which containers reach as host.docker.internal while Redis and MongoDB stay on loopback.
MGX_INTERNAL_HOST = env("MGX_INTERNAL_HOST", default="")
MGX_INTERNAL_PORT = env.int("MGX_INTERNAL_PORT", default=defaults.internal_port(MGX_PORT))
# The agent container's limits (it runs on its app's own network, under the same sandbox as
# the app's dev server: containers.sandbox).
MGX_AGENT_MEMORY = env("MGX_AGENT_MEMORY", default="2g")
MGX_AGENT_CPUS = env.float("MGX_AGENT_CPUS", default=1.0)
MGX_AGENT_PIDS = env.int("MGX_AGENT_PIDS", default=512)
MGX_AGENT_TMP_SIZE = env("MGX_AGENT_TMP_SIZE", default="256m")
# Seconds between `: ping` comments on an idle agent event stream (`/api/apps/<slug>/agent/events`),
# so proxies and load balancers keep it open.
MGX_SSE_HEARTBEAT_SECONDS = env.float("MGX_SSE_HEARTBEAT_SECONDS", default=15.0)
