"""One descriptor per framework: everything MGX's floors need to know about a template, in one
place. The dev runtime (deployments.services) reads its port, script and "still installed"
check; builds read which images to make from which folder; production reads which container
serves and its health path; the agent team's prompt reads what the team is told.

The ids and labels themselves are core.frameworks (the one list, which the App model's choices
use); every id there has a descriptor here.

The dev scripts print `MGX_PHASE <phase>` lines that the boot watcher turns into the progress
shown on the Dev tab. Dependencies are installed into the workspace (node_modules,
backend/.venv, both git-ignored) with npm/pip caches in the app's own HOME volume, so a restart
installs fast; a new app's first install starts from the template's packages, copied from the
dev image (infra/images/dev), so it fetches nothing the template already has. They run as the unprivileged app user on a read-only root filesystem: they may
write only to /workspace, HOME and /tmp.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from core.frameworks import FRAMEWORKS

# Where the dev image (infra/images/dev, containers.images.WARM_NPM/WARM_PIP) keeps the templates'
# dependencies, installed ahead; absent in the runtime image, which installs everything.
WARM = "/opt/mgx-warm"


def npm_install(warm: str) -> str:
    """Install the folder's npm dependencies unless its manifest is unchanged since the last
    install (a stamp with its hash lives next to the installed packages: a warm restart only
    starts). A folder with no node_modules yet starts from the template's, copied from the dev
    image: npm then has nothing (or only what the app added) left to fetch."""
    return r"""
manifest() { cat package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16; }
if [ "$(cat node_modules/.mgx-installed 2>/dev/null)" != "$(manifest)" ]; then
  # An install cut short (its container killed) leaves half-written packages that npm takes
  # for whole: the next install starts from nothing instead.
  [ -e node_modules/.mgx-installing ] && rm -rf node_modules
  if [ ! -e node_modules ] && [ -d """ + f"{WARM}/npm/{warm}" + r"""/node_modules ]; then
    echo "Copying the template's packages from MGX's dev image"
    mkdir -p node_modules && : > node_modules/.mgx-installing
    cp -a """ + f"{WARM}/npm/{warm}" + r"""/node_modules/. node_modules/
  fi
  mkdir -p node_modules && : > node_modules/.mgx-installing
  npm install --no-audit --no-fund --loglevel=error
  manifest > node_modules/.mgx-installed  # after the install: it may have written the lock file
  rm -f node_modules/.mgx-installing
fi
"""


# Exit 0 when what is installed still matches the manifests: a dev server kept warm (paused) is
# resumed only then; after a change to package.json or requirements it starts afresh and installs.
NPM_CURRENT = r"""[ "$(cat node_modules/.mgx-installed 2>/dev/null)" = "$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16)" ]"""
NEXTJS_CURRENT = "cd /workspace && " + NPM_CURRENT
FASTAPI_VITE_CURRENT = (
    r"""cd /workspace/backend && [ "$(cat .venv/.mgx-installed 2>/dev/null)" = "$(cat requirements*.txt | sha256sum | cut -c1-16)" ]"""
    " && cd /workspace/frontend && " + NPM_CURRENT)

NEXTJS_DEV = r"""
set -e
cd /workspace
echo "MGX_PHASE installing"
""" + npm_install("nextjs") + r"""
echo "MGX_PHASE starting"
exec npx next dev --turbopack -H 0.0.0.0 -p 3000
"""

FASTAPI_VITE_DEV = r"""
set -e
echo "MGX_PHASE installing"
cd /workspace/backend
# A backend with no virtualenv yet starts from the template's, made at this very path in the dev
# image (a virtualenv's scripts name their own path); pip then adds only what the app added.
if [ ! -e .venv ] && [ -x """ + WARM + r"""/pip/fastapi_vite-backend/.venv/bin/python ]; then
  echo "Copying the template's Python packages from MGX's dev image"
  rm -rf .venv.mgx-copy  # a copy cut short is thrown away, not taken for whole
  cp -a """ + WARM + r"""/pip/fastapi_vite-backend/.venv .venv.mgx-copy && mv .venv.mgx-copy .venv
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
# requirements-dev.txt (when the app has one) adds the test tools to requirements.txt.
reqs=requirements.txt; [ -f requirements-dev.txt ] && reqs=requirements-dev.txt
want=$(cat requirements*.txt | sha256sum | cut -c1-16)
if [ "$(cat .venv/.mgx-installed 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install --disable-pip-version-check -q -r $reqs
  echo "$want" > .venv/.mgx-installed
fi
cd /workspace/frontend
""" + npm_install("fastapi_vite-frontend") + r"""
echo "MGX_PHASE starting"
cd /workspace/backend
.venv/bin/uvicorn app.main:app --reload --host 127.0.0.1 --port 8000 &
cd /workspace/frontend
exec npx vite --host 0.0.0.0 --port 5173 --strictPort
"""



@dataclass(frozen=True)
class Framework:
    id: str
    dev_port: int  # the dev server's port in its container (the gateway routes there)
    dev_script: str  # the dev container's command (after sshd starts)
    dev_current: str  # a shell test: the installed dependencies still match the manifests
    images: tuple[tuple[str, str], ...]  # (role, folder of the workspace holding its Dockerfile)
    public: tuple[str, int]  # the production container the gateway routes to: (role, port)
    health_path: str  # under the base path; 200 when the app is up (dev and production)
    team: str  # what the agent team is told about the template
    # Files the dev server rewrites by itself on every start (Next.js: next-env.d.ts). A change
    # to these alone is no "dev container" commit; it goes into the next real one.
    self_written: tuple[str, ...] = ()
    # What the dev server prints when the app breaks, and when it is whole again (regular
    # expressions over its output lines): deployments.dev_health reads them to say why.
    error_lines: tuple[str, ...] = ()
    recovered_lines: tuple[str, ...] = ()
    # Pages the dev health check asks for besides the health path (under the base path): a dev
    # server compiles a page when it is asked for, so this is how a broken page shows.
    probe_paths: tuple[str, ...] = ("",)

    def health_url(self, *, slug: str, stage: str, port: int) -> str:
        return f"http://127.0.0.1:{port}/apps/{slug}/{stage}/{self.health_path}"


DESCRIPTORS: dict[str, Framework] = {
    "nextjs": Framework(
        id="nextjs", dev_port=3000, dev_script=NEXTJS_DEV, dev_current=NEXTJS_CURRENT,
        images=(("app", ""),), public=("app", 3000), health_path="healthz", self_written=("next-env.d.ts",),
        error_lines=(r"⨯", r"Failed to compile", r"Module not found", r"SyntaxError", r"Unhandled Runtime Error",
                     r"^\s*Error: ", r"TypeError: ", r"ReferenceError: "),
        recovered_lines=(r"✓ Compiled", r"Compiled .* in ", r"GET \S+ 200 in "),
        team=(
            "Next.js 15 (App Router, TypeScript) in one container. Pages live in app/, logic in lib/*.mjs "
            "(tested with `npm test`), the dev server runs on port 3000, and next.config.mjs takes basePath from "
            "MGX_BASE_PATH, so plain links, forms and fetches must prefix it. Who is logged in: currentUser() from "
            "@/lib/current-user; the database: getDb() from @/lib/db.mjs. "
        ),
    ),
    "fastapi_vite": Framework(
        id="fastapi_vite", dev_port=5173, dev_script=FASTAPI_VITE_DEV, dev_current=FASTAPI_VITE_CURRENT,
        images=(("backend", "backend"), ("frontend", "frontend")), public=("frontend", 8080), health_path="api/healthz",
        error_lines=(r"\[vite\] Internal server error", r"\[vite\] (Pre-transform error|error)", r"Traceback \(most recent",
                     r"^ERROR:", r"SyntaxError", r"\[vite\] http proxy error"),
        recovered_lines=(r"\[vite\] hmr update", r"\[vite\] page reload", r"Application startup complete",
                         r"VITE v\S+ +ready"),
        team=(
            "A FastAPI backend in backend/ (backend/app/main.py, root_path from MGX_BASE_PATH, requirements in "
            "backend/requirements.txt, tests with pytest) and a React frontend built with Vite 5 in frontend/ (base "
            "from MGX_BASE_PATH; api/ and auth/ are proxied to the backend). Who is logged in: current_user(request) "
            "from backend/app/sessions.py; the database: database(settings) from backend/app/db.py. "
        ),
    ),
}
assert set(DESCRIPTORS) == set(FRAMEWORKS), "every framework in core.frameworks needs a descriptor"


def framework(framework_id: str) -> Framework:
    """The descriptor of a framework id (read at each call, so a test may swap one in)."""
    return DESCRIPTORS[framework_id]


def cheap_dev(described: Framework, script: str) -> Framework:
    """`described` with another dev script, for tests whose dev server need not be the real one:
    it listens on the same port and counts as installed."""
    return replace(described, dev_script=script, dev_current="true")
