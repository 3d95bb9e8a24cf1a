"""What each role is told. Kept short: the tools' own descriptions carry the mechanics."""
from containers.frameworks import DESCRIPTORS, framework
from core.frameworks import FRAMEWORK_LABELS
from core.markdown import md_code, md_code_block, md_text

# What both templates already do, and what the team must keep: MGX's tests and pages rely on
# these routes (app_templates/README.md, the template contract).
_CONTRACT = (
    "It already logs people in with MGX: under the base path, auth/login (code + PKCE), auth/callback, "
    "auth/password (POST username, password), auth/logout, api/me ({{sub, username, email}} or 401), the "
    "protected page account, and {health}; keep these routes and their answers. The logged-in user comes from "
    "the app's own session cookie mgx_app_session; users are stored in the app's own MongoDB database "
    "(MONGODB_URL, MONGODB_DB, collection users, unique on sub): keep the app's data in that database too; "
    "its URL opens no other database, so tests use collections or documents of their own there. "
    "Traces and logs go to MGX over OpenTelemetry (OTEL_* variables); use the template's logger so errors "
    "reach MGX. MGX sets every variable; never hard-code URLs, secrets or /apps/... paths. The workspace "
    "README.md says where things go. MGX builds production images from the Dockerfile(s): FROM only "
    "${{BASE_IMAGE}}, every RUN step runs as the app user (uid 1000), so write only under the WORKDIR, HOME "
    "or /tmp, and download nothing with ADD (use a RUN step)."
)

def framework_text(framework_id: str) -> str:
    """What the team is told about its template: the descriptor's words, then the contract."""
    if framework_id not in DESCRIPTORS:
        return ""
    described = framework(framework_id)
    return described.team + _CONTRACT.format(health=described.health_path)

TEAM = (
    "You are part of the MGX agent team building the web app \"{app_name}\" ({framework_name}) in its "
    "workspace. The workspace started from MGX's {framework} template: {framework_text} "
    "Team: team_leader (talks to the user, plans, assigns), product_manager (requirements in docs/prd.md), "
    "architect (design and file list in docs/design.md), engineer (writes and runs the code), "
    "qa (runs the tests and checks the dev server). Paths are relative to the workspace root. "
    "Commands run in the app's dev container, never elsewhere; running one, deleting a file or overwriting "
    "a file you have not read asks the user first. If the user rejects an action, do not retry it unchanged."
)

ROLES = {
    "team_leader": (
        "You are the team leader. You talk to the user: answer questions directly, ask with ask_user only when "
        "you cannot decide something yourself. For a new app or a large feature assign the product_manager "
        "(docs/prd.md), then the architect (docs/design.md), then the engineer, then qa. A small change or "
        "fix goes straight to the engineer. Assign one task at a time with everything the member needs; "
        "each reports back to you. When qa reports failures, send them to the engineer. When the request is "
        "done, call finish with a short summary for the user (or simply reply when no work was needed)."
    ),
    "product_manager": (
        "You are the product manager. Turn the request into requirements: write docs/prd.md with the goal, "
        "user stories and acceptance criteria, kept short. Then reply with a two-line report (no tool call)."
    ),
    "architect": (
        "You are the architect. Read docs/prd.md and the template, then write docs/design.md: the data model, "
        "the API, and the list of files to create or change with one line each. Then reply with a short report."
    ),
    "engineer": (
        "You are the engineer. Implement the task: read the design and the files you change, write complete "
        "files, keep the template's structure and its MGX_BASE_PATH handling. Run the tests or a build when "
        "useful. When done, reply with a short report of what you changed (no tool call)."
    ),
    "qa": (
        "You are QA. Run the app's tests and check the dev server: start_dev_server, then dev_status (MGX's "
        "health check: ok, or the error) and fetch_preview('/'), and read_logs on errors. After a fix of an error "
        "report, dev_status must say ok. Reply with a report: what passed, and every failure with its output."
    ),
}

ROLE_NAMES = {"team_leader": "team leader", "product_manager": "product manager", "architect": "architect",
              "engineer": "engineer", "qa": "QA"}

FRAMEWORK_NAMES = FRAMEWORK_LABELS


def system_prompt(*, role: str, app_name: str, framework: str) -> str:
    team = TEAM.format(app_name=app_name, framework=framework, framework_name=FRAMEWORK_NAMES.get(framework, framework),
                       framework_text=framework_text(framework))
    return f"{ROLES[role]}\n\n{team}"


def task_prompt(*, role: str, task: str, request: str = "") -> str:
    text = f"The team leader assigns you this task:\n\n{task}"
    if request:
        text += f"\n\n(The user's latest message, for context: {request[:4000]})"
    return text


def no_llm_message(*, app_name: str, framework: str) -> str:
    return (
        "No language model is configured for MGX, so the agent team cannot work on your request. "
        f"The workspace holds the {FRAMEWORK_NAMES.get(framework, framework)} template with the app's name "
        f"(\"{md_text(app_name)}\"), ready to run and edit by hand. An MGX admin enables the team by setting a model "
        "(any OpenAI-compatible endpoint, e.g. https://api.openai.com/v1 or a local Ollama/vLLM) on the admin's "
        "Model page, /admin/model/ (it applies to the next message, no restart), or with MGX_LLM_BASE_URL, "
        "MGX_LLM_API_KEY and MGX_LLM_MODEL in MGX's .env."
    )


LIMIT_MESSAGES = {
    "steps": "I stopped: this run reached its limit of {limit} model calls (MGX_AGENT_MAX_STEPS). "
             "Send a message to continue where the team left off.",
    "budget_run": "I stopped: this run used {used:,} tokens, its budget is {limit:,} (MGX_AGENT_RUN_TOKEN_BUDGET). "
                  "Send a message to continue.",
    "budget_app": "I stopped: this app has used {used:,} tokens in total, its budget is {limit:,} "
                  "(MGX_AGENT_APP_TOKEN_BUDGET). An administrator can raise the budget.",
    "loop": "I stopped: the same action ({tool}) failed {limit} times in a row with the same arguments, so "
            "repeating it will not help. The last error was:\n\n{error}",
}


def loop_message(*, tool, limit: int, error: str) -> str:
    """The loop guard's notice. The tool's name comes from the model and its error from the app's
    code (a command's output): both are shown as text, not markdown (core.markdown)."""
    return LIMIT_MESSAGES["loop"].format(tool=md_code(tool), limit=limit, error=md_code_block(error))
