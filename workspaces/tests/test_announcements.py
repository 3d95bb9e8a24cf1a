"""Every change to a workspace is heard by an open session page (`workspace.changed`): which
paths, and who changed them (a username, or "agent" for the team's work)."""
import pytest

from tests.heard import listening
from workspaces import services

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def app(app_factory):
    return app_factory(name="Heard App")


def test_an_edit_is_announced_with_its_path_and_who_made_it(app):
    with listening(app.slug) as heard:
        services.file_write(app=app, path="README.md", content="# Heard\n", user=app.owner)
        assert heard.next("workspace.changed") == {"paths": ["README.md"], "by": app.owner.username}


def test_a_write_without_a_user_is_the_agents(app):
    with listening(app.slug) as heard:
        services.file_write(app=app, path="notes.txt", content="from the team\n", user=None)
        assert heard.next("workspace.changed") == {"paths": ["notes.txt"], "by": "agent"}


def test_folder_rename_and_delete_are_announced(app):
    owner = app.owner.username
    with listening(app.slug) as heard:
        services.dir_create(app=app, path="src/parts", user=app.owner)
        assert heard.next("workspace.changed") == {"paths": ["src/parts"], "by": owner}
        services.entry_move(app=app, src="README.md", dst="docs/README.md", user=app.owner)
        assert heard.next("workspace.changed") == {"paths": ["README.md", "docs/README.md"], "by": owner}
        services.entry_delete(app=app, path="docs/README.md", user=app.owner)
        assert heard.next("workspace.changed") == {"paths": ["docs/README.md"], "by": owner}


def test_a_restore_names_the_files_it_changed(app):
    from workspaces.selectors import history_list

    first = history_list(app=app)[-1]
    services.file_write(app=app, path="README.md", content="changed\n", user=app.owner)
    services.file_write(app=app, path="extra.txt", content="new\n", user=app.owner)
    with listening(app.slug) as heard:
        services.version_restore(app=app, sha=first.sha, user=app.owner)
        assert heard.next("workspace.changed") == {"paths": ["README.md", "extra.txt"], "by": app.owner.username}


def test_the_agents_commit_is_announced_with_what_it_changed(app, settings):
    from pathlib import Path

    root = Path(settings.MGX_WORKSPACE_ROOT) / app.slug
    (root / "made-by-agent.txt").write_text("hello\n")
    with listening(app.slug) as heard:
        services.workspace_commit(app=app, message="Agent: add a file", author="MGX agent team")
        assert heard.next("workspace.changed") == {"paths": ["made-by-agent.txt"], "by": "agent"}


def test_a_refused_write_announces_nothing(app):
    from workspaces.fs import WorkspaceError

    with listening(app.slug) as heard:
        with pytest.raises(WorkspaceError):
            services.file_write(app=app, path="../outside.txt", content="no\n", user=app.owner)
        assert "workspace.changed" not in heard.kinds()
