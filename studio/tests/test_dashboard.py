"""The dashboard lists each app with its last change, read from what the workspace services
stored when they committed, not from git on every load: it shows even while the app's history
cannot be read."""
import shutil

import pytest

from workspaces import git
from workspaces.services import file_write, workspace_for

pytestmark = pytest.mark.django_db


class _HistoryHidden:
    """Move the apps' git directories away (any git command on them fails), and back after."""

    def __init__(self, apps, tmp_path):
        self.moves = [(git.git_dir(workspace_for(app).root), tmp_path / f"{app.slug}.git") for app in apps]

    def __enter__(self):
        for gd, away in self.moves:
            shutil.move(str(gd), str(away))

    def __exit__(self, *exc):
        for gd, away in self.moves:
            shutil.move(str(away), str(gd))


def test_the_dashboard_shows_the_last_change_without_reading_git(client, app_factory, user_factory, tmp_path):
    owner = user_factory(username="dana")
    apps = [app_factory(owner=owner, name=f"Listed {n}") for n in range(3)]
    file_write(app=apps[1], path="README.md", content="# Edited\n", user=owner)
    client.force_login(owner)
    with _HistoryHidden(apps, tmp_path):
        page = client.get("/").content.decode()
    assert "Last change: Edit README.md — dana" in page
    assert page.count("Last change: Create Listed") == 2


def test_the_api_lists_the_same_last_change(client, app_factory, user_factory, tmp_path):
    owner = user_factory(username="erin")
    app = app_factory(owner=owner, name="Api Listed")
    file_write(app=app, path="README.md", content="# Edited\n", user=owner)
    client.force_login(owner)
    with _HistoryHidden([app], tmp_path):
        listed = client.get("/api/sessions").json()["sessions"]
    assert [(s["slug"], s["last_change"]["message"], s["last_change"]["author"]) for s in listed] == [
        (app.slug, "Edit README.md", "erin")]
