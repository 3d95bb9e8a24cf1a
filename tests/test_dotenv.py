"""MGX reads a `.env` at the project root: the settings and `./mgx` (which builds the
environment of every process it starts) see the same values, and a variable already set in the
environment wins over the file.

The project is a temporary copy of `mgx_site/` (and `core/`) with its own `.env`, so the test reads the real
default path (BASE_DIR/.env) without writing into the working tree."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PROBE = """
import json, mgx_site
from mgx_site.cli import commands as cli
layout, env = cli._config()
from mgx_site.settings import agents, env as settings_env
keys = ("MGX_LLM_BASE_URL", "MGX_LLM_API_KEY", "MGX_LLM_MODEL", "MGX_PORT")
print(json.dumps({
    "package": mgx_site.__file__,
    "cli": {k: env.get(k) for k in keys},
    "settings": {"MGX_LLM_BASE_URL": agents.MGX_LLM_BASE_URL, "MGX_LLM_API_KEY": agents.MGX_LLM_API_KEY,
                 "MGX_LLM_MODEL": agents.MGX_LLM_MODEL, "MGX_PORT": settings_env.MGX_PORT},
}))
"""


def _probe(project: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MGX_") and k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(extra)
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=project, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(out["package"]).resolve().is_relative_to(project.resolve()), out["package"]
    return out


def _project(tmp_path: Path, dotenv: str | None) -> Path:
    project = tmp_path / "mgx"
    for package in ("mgx_site", "core"):  # the CLI's probes live in core
        shutil.copytree(REPO / package, project / package, ignore=shutil.ignore_patterns("__pycache__"))
    if dotenv is not None:
        (project / ".env").write_text(dotenv)
    return project


def test_dotenv_at_the_project_root_reaches_the_settings_and_the_processes_mgx_up_starts(tmp_path):
    project = _project(tmp_path, "# the model endpoint\n"
                                 "MGX_LLM_BASE_URL=http://127.0.0.1:11434/v1\n"
                                 "MGX_LLM_API_KEY='sk-from-dotenv'\n"
                                 "export MGX_LLM_MODEL=qwen2.5-coder\n"
                                 "MGX_PORT=8123\n")

    out = _probe(project)

    expected = {"MGX_LLM_BASE_URL": "http://127.0.0.1:11434/v1", "MGX_LLM_API_KEY": "sk-from-dotenv",
                "MGX_LLM_MODEL": "qwen2.5-coder"}
    assert out["settings"] == {**expected, "MGX_PORT": 8123}
    assert out["cli"] == {**expected, "MGX_PORT": "8123"}


def test_a_variable_already_set_wins_over_the_dotenv(tmp_path):
    project = _project(tmp_path, "MGX_LLM_MODEL=from-the-file\nMGX_LLM_BASE_URL=http://127.0.0.1:9/v1\n")

    out = _probe(project, MGX_LLM_MODEL="from-the-shell")

    assert out["settings"]["MGX_LLM_MODEL"] == out["cli"]["MGX_LLM_MODEL"] == "from-the-shell"
    assert out["settings"]["MGX_LLM_BASE_URL"] == "http://127.0.0.1:9/v1"


def test_without_a_dotenv_nothing_changes(tmp_path):
    out = _probe(_project(tmp_path, None))

    # Empty: not set in the environment, so the admin's Model page (or MGX's default model) decides.
    assert out["settings"] == {"MGX_LLM_BASE_URL": "", "MGX_LLM_API_KEY": "", "MGX_LLM_MODEL": "", "MGX_PORT": 8000}
    assert out["cli"]["MGX_LLM_BASE_URL"] is None


def test_the_agent_container_never_mounts_the_dotenv():
    """The file may hold MGX's secrets (the model key, DATABASE_URL, MGX_SECRET_KEY): agent
    containers mount MGX's code directories one by one, never the project root."""
    from agents.containers import AGENT_CODE

    assert ".env" not in AGENT_CODE and "." not in AGENT_CODE
