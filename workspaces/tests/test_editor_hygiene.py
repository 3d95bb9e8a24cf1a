"""Issue 27, part 7, below the browser: the Files tab's tree leaves out what the workspace's
.gitignore ignores (git's own check, in its sandbox) unless asked, while the API still lists
everything; a file the framework rewrites on every dev start (Next.js's next-env.d.ts) makes no
"dev container" commit of its own and goes into the next real one; the file API takes a JSON file
that does not parse (the check is the editor's, with its own "Save anyway")."""
import json
from pathlib import Path

import pytest

from agents.services import dev_changes_commit
from containers.frameworks import framework
from deployments.models import DevEnvironment
from workspaces import git, selectors, services

pytestmark = pytest.mark.django_db


def _put(root: Path, rel: str, text: str = "x") -> None:
    """A file written as a dev server or `npm install` writes it: on disk, not through MGX."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _names(entries):
    return [e.name + ("/" if e.is_dir else "") for e in entries]


def test_the_tree_hides_what_gitignore_ignores_unless_asked(app_factory, client):
    app = app_factory(name="Ignoring", framework="nextjs")
    root = services.workspace_for(app).root
    _put(root, "node_modules/left-pad/index.js", "module.exports = 1;")
    _put(root, ".next/trace", "{}")
    _put(root, "npm-debug.log", "oops")
    _put(root, "app/.env.local", "SECRET=1")

    shown, hidden = selectors.tree_entries(app=app)
    assert {"node_modules/", ".next/", "npm-debug.log"} == set(_names(hidden))
    assert {"app/", "package.json", ".gitignore", "next-env.d.ts"} <= set(_names(shown))
    assert not {"node_modules/", ".next/"} & set(_names(shown))
    inside, hidden_inside = selectors.tree_entries(app=app, path="app")
    assert "page.tsx" in _names(inside) and _names(hidden_inside) == [".env.local"]

    everything, none_hidden = selectors.tree_entries(app=app, show_ignored=True)
    assert none_hidden == [] and {"node_modules/", ".next/"} <= set(_names(everything))
    assert {e.name for e in everything if e.ignored} == {"node_modules", ".next", "npm-debug.log"}
    deep, _ = selectors.tree_entries(app=app, path="node_modules/left-pad", show_ignored=True)
    assert [(e.name, e.ignored) for e in deep] == [("index.js", True)]

    # The API and scripts still see everything, as before.
    assert "node_modules" in [e.name for e in selectors.entries_list(app=app)]

    client.force_login(app.owner)
    tree = client.get(f"/sessions/{app.slug}/tree/").content.decode()
    assert 'data-path="package.json"' in tree and "node_modules" in tree.split("tree-hidden", 1)[1]
    assert "is-ignored" not in tree
    tree = client.get(f"/sessions/{app.slug}/tree/", {"ignored": "1"}).content.decode()
    assert 'class="tree-dir is-ignored"' in tree and "ignored=1" in tree  # folders open with it too
    # A change made from the tree answers with the tree as it was shown.
    after = client.post(f"/sessions/{app.slug}/files/delete", {"path": "npm-debug.log", "ignored": "1"},
                        HTTP_HX_REQUEST="true").content.decode()
    assert "node_modules" in after and "tree-hidden" not in after


def test_a_virtualenv_of_the_fastapi_template_is_ignored(app_factory):
    app = app_factory(name="Venv Hidden", framework="fastapi_vite")
    root = services.workspace_for(app).root
    _put(root, "backend/.venv/bin/python", "#!/bin/sh")
    _put(root, "frontend/dist/index.html", "<html>")
    _put(root, "backend/app/__pycache__/main.cpython-311.pyc", "x")
    assert _names(selectors.tree_entries(app=app, path="backend")[1]) == [".venv/"]
    assert _names(selectors.tree_entries(app=app, path="frontend")[1]) == ["dist/"]
    assert _names(selectors.tree_entries(app=app, path="backend/app")[1]) == ["__pycache__/"]


def test_next_env_rewritten_by_the_dev_server_is_no_commit_of_its_own(app_factory):
    app = app_factory(name="Next Env", framework="nextjs")
    root = services.workspace_for(app).root
    DevEnvironment.objects.update_or_create(app=app, defaults={"phase": DevEnvironment.Phase.READY})
    before = [c.sha for c in selectors.history_list(app=app)]
    assert "next-env.d.ts" in framework("nextjs").self_written

    # `next dev` rewrites it at every start.
    _put(root, "next-env.d.ts", (root / "next-env.d.ts").read_text() + '/// <reference path="./.next/types/routes.d.ts" />\n')
    assert dev_changes_commit() == []
    assert [c.sha for c in selectors.history_list(app=app)] == before

    # A real change over SSH: one commit, which takes the rewritten file along.
    _put(root, "app/page.tsx", "export default function Page() { return <p>Edited over SSH</p>; }\n")
    assert dev_changes_commit() == [app.slug]
    newest = selectors.history_list(app=app, limit=1)[0]
    assert newest.author == "dev container"
    assert sorted(git.commit_paths(root, newest.sha)) == ["app/page.tsx", "next-env.d.ts"]
    assert dev_changes_commit() == []  # nothing left


def test_the_file_api_takes_json_that_does_not_parse(app_factory, client):
    app = app_factory(name="Odd Json")
    client.force_login(app.owner)
    url = f"/api/workspaces/{app.slug}/files?path=package.json"
    current = client.get(url).json()
    odd = '{"name": "odd",}\n'  # a trailing comma: not JSON, still the owner's to save
    saved = client.put(url, json.dumps({"content": odd, "version": current["version"]}), content_type="application/json")
    assert saved.status_code == 200
    assert selectors.file_read(app=app, path="package.json").text == odd
