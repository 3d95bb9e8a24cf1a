"""The floors hold: an app imports only apps on floors below its own (docs/architecture.md).

Read from the code itself (every `import` and `from … import`, also inside functions, which a
reader skimming a module's top does not see), so a new arrow that runs up, sideways or in a
circle fails here, and so does an import hidden in a function without a reason written below.
"""
import ast
from pathlib import Path

import pytest

BASE = Path(__file__).resolve().parent.parent

# Ground first. An app may import apps on lower floors only: never one on its own floor, never
# one above, so no two apps can import each other.
FLOORS = [
    ("core",),  # shared plumbing: imports no app
    ("sessions_app", "containers"),  # the app record; the Docker engine, images, the sandbox, frameworks
    ("accounts", "workspaces", "databases", "observability"),
    ("deployments",),  # dev servers, builds, releases, logs, the gateway
    ("agents",),  # the team works in the workspace and the dev container
    ("studio",),  # the pages and the app lifecycle: composes everyone, nobody imports it
    ("mgx_site",),  # wiring: settings, URLs, ASGI, Celery, the CLI
]
FLOOR = {app: level for level, apps in enumerate(FLOORS) for app in apps}

# Imports inside a function that cross into another app, each with why it cannot be at the top.
HIDDEN_ON_PURPOSE = {
    ("deployments/apps.py", "accounts.models"): "signal receivers connect in ready(), once every model is loaded",
    ("mgx_site/otel.py", "observability.tokens"): "instrumentation starts before Django's apps are loaded",
    ("mgx_site/otel.py", "core.telemetry"): "instrumentation starts before Django's apps are loaded",
    ("mgx_site/celery.py", "core.workers"): "the Celery app is made before Django's apps are loaded",
    ("mgx_site/celery.py", "core.broker"): "installed as the worker starts: the CLI imports mgx_site too, without a broker",
    ("mgx_site/settings/oauth.py", "accounts.tokens"): "settings may not import apps; DOT calls these later",
    ("mgx_site/settings/oauth.py", "accounts.selectors"): "settings may not import apps; DOT calls these later",
    ("mgx_site/cli/commands.py", "containers.images"): "the CLI runs before Django's settings are configured",
}


def _modules():
    for app in FLOOR:
        for path in sorted((BASE / app).rglob("*.py")):
            parts = path.relative_to(BASE).parts
            if {"tests", "migrations", "testing"} & set(parts):
                continue
            yield app, path


def _imports(path: Path):
    """(module imported, inside a function?) for every absolute import of the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside.update(id(sub) for sub in ast.walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            yield name, id(node) in inside


def _arrows():
    for app, path in _modules():
        for module, hidden in _imports(path):
            target = module.split(".")[0]
            if target in FLOOR and target != app:
                yield app, path.relative_to(BASE).as_posix(), module, target, hidden


def test_every_app_is_on_a_floor():
    installed = [line.strip().strip('",') for line in (BASE / "mgx_site/settings/base.py").read_text().splitlines()]
    local = {p.name for p in BASE.iterdir() if (p / "apps.py").exists()}
    assert local <= set(FLOOR), f"apps on no floor: {sorted(local - set(FLOOR))}"
    assert all(app in installed for app in local), "an app of the repository is not in INSTALLED_APPS"


def test_no_arrow_runs_up_or_sideways():
    wrong = [f"{where} imports {module} ({app}, floor {FLOOR[app]} -> {target}, floor {FLOOR[target]})"
             for app, where, module, target, _hidden in _arrows() if FLOOR[target] >= FLOOR[app]]
    assert not wrong, "imports against the floors:\n" + "\n".join(wrong)


def test_core_imports_no_app_and_nobody_imports_the_top_floor():
    assert not [a for a in _arrows() if a[0] == "core"]
    assert not [a for a in _arrows() if a[3] == "studio" and a[0] != "mgx_site"]


def test_imports_across_apps_stand_at_the_top_of_their_module():
    hidden = {(where, module) for _app, where, module, _target, hidden in _arrows() if hidden}
    unexplained = sorted(hidden - set(HIDDEN_ON_PURPOSE))
    assert not unexplained, ("imports across apps hidden inside functions (move them to the top, or say why "
                             "in HIDDEN_ON_PURPOSE):\n" + "\n".join(f"{w}: {m}" for w, m in unexplained))
    stale = sorted(set(HIDDEN_ON_PURPOSE) - hidden)
    assert not stale, f"HIDDEN_ON_PURPOSE names imports that are gone: {stale}"


@pytest.mark.parametrize("probe", ["up", "sideways"])
def test_the_check_sees_a_wrong_arrow(tmp_path, probe):
    """The reader finds an arrow where it hides (inside a function) and judges it by floor."""
    source = tmp_path / "probe.py"
    target = "studio.views" if probe == "up" else "observability.selectors"
    source.write_text(f"def f():\n    from {target} import x\n")
    (module, hidden), = list(_imports(source))
    assert module == target and hidden
    assert FLOOR[module.split(".")[0]] >= FLOOR["accounts" if probe == "sideways" else "deployments"]
