"""Nothing in a workspace can make MGX's host git run a command (issue 9, attack 1).

Each attack writes what an owner can write through the JSON API, or what the dev container can
write into its /workspace, then saves through MGX as a user would, and checks that the planted
command never ran (its marker file on the host does not exist) and the save is in history.
"""
import json
import os
import shutil
import stat
import uuid
from pathlib import Path

import docker
import pytest
from django.conf import settings

from core import owner
from workspaces import git, selectors, services
from workspaces.services import workspace_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(app_factory):
    return app_factory(name="Git Target")


@pytest.fixture
def marker():
    """A host path the planted command would create (world-writable /tmp: whoever runs it can)."""
    path = Path(f"/tmp/mgx-pwned-{uuid.uuid4().hex}")
    yield path
    path.unlink(missing_ok=True)


def put(client, slug, path, content):
    answer = client.put(f"/api/workspaces/{slug}/files?path={path}", json.dumps({"content": content}),
                        content_type="application/json")
    assert answer.status_code in (200, 201), answer.content
    return answer


def messages(app):
    return [c.message for c in selectors.history_list(app=app)]


ATTACKS = {
    "fsmonitor": {".gitconfig": '[core]\n\tfsmonitor = "touch {m}"\n'},
    "hooks": {".gitconfig": "[core]\n\thooksPath = hooks\n", "hooks/post-commit": "#!/bin/sh\ntouch {m}\n",
              "hooks/pre-commit": "#!/bin/sh\ntouch {m}\n"},
    "alias": {".gitconfig": "[alias]\n\tadd = !touch {m}\n\tcommit = !touch {m}\n\tlog = !touch {m}\n"},
    "include": {".gitconfig": "[include]\n\tpath = more.cfg\n", "more.cfg": '[core]\n\tfsmonitor = "touch {m}"\n'},
    "filter": {".gitconfig": '[filter "evil"]\n\tclean = touch {m}\n\tsmudge = touch {m}\n\trequired = true\n',
               ".gitattributes": "* filter=evil\n"},
    "diff": {".gitconfig": "[diff]\n\texternal = touch {m}\n[diff \"x\"]\n\ttextconv = touch {m}\n[core]\n\tpager = touch {m}\n",
             ".gitattributes": "* diff=x\n"},
    "xdg": {".config/git/config": '[core]\n\tfsmonitor = "touch {m}"\n'},
    "nested-git-via-api": {"sub/.git/HEAD": "ref: refs/heads/main\n", "sub/.git/config": '[core]\n\tfsmonitor = "touch {m}"\n',
                           "sub/.git/objects/.keep": "", "sub/.git/refs/.keep": "", "sub/file.txt": "x\n"},
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_git_config_written_through_the_api_never_runs(client, app, marker, attack):
    client.force_login(app.owner)
    for path, content in ATTACKS[attack].items():
        put(client, app.slug, path, content.format(m=marker))

    put(client, app.slug, "notes.md", "saved after the attack\n")
    put(client, app.slug, "notes.md", "saved twice\n")
    selectors.version_show(app=app, sha=selectors.history_list(app=app)[0].sha)

    assert not marker.exists(), f"the {attack} attack ran a command on the host"
    assert messages(app)[:2] == ["Edit notes.md", "Create notes.md"]
    assert selectors.file_read(app=app, path="notes.md").text == "saved twice\n"
    assert not (workspace_for(app).root / ".git").exists()


def test_a_gitattributes_filter_does_not_change_what_history_stores(client, app):
    client.force_login(app.owner)
    put(client, app.slug, ".gitattributes", "*.txt text eol=crlf working-tree-encoding=UTF-16\n")
    put(client, app.slug, "a.txt", "one\ntwo\n")
    _, patch = selectors.version_show(app=app, sha=selectors.history_list(app=app)[0].sha)
    assert "+one\n+two\n" in patch


def _planted_by_the_container(marker: Path) -> str:
    """What a dev container can do to its /workspace: a git config, hooks and attributes where
    host git used to look, and repositories of its own inside folders."""
    cmd = f"touch {marker}"
    return f"""
set -e
cd /workspace
mkdir -p .git/hooks
printf '[core]\\n\\tfsmonitor = "{cmd}"\\n\\thooksPath = /workspace/.git/hooks\\n[filter "evil"]\\n\\tclean = {cmd}\\n' > .git/config
printf '#!/bin/sh\\n{cmd}\\n' > .git/hooks/post-commit
printf '#!/bin/sh\\n{cmd}\\n' > .git/hooks/pre-commit
chmod +x .git/hooks/*
printf '* filter=evil\\n' > .gitattributes
printf '[core]\\n\\tfsmonitor = "{cmd}"\\n' > .gitconfig
for sub in sub deeper/nested; do
  mkdir -p $sub/.git/objects $sub/.git/refs/heads $sub/.git/hooks
  echo 'ref: refs/heads/main' > $sub/.git/HEAD
  printf '[core]\\n\\trepositoryformatversion = 0\\n\\tfsmonitor = "{cmd}"\\n[filter "evil"]\\n\\tclean = {cmd}\\n\\trequired = true\\n' > $sub/.git/config
  printf '#!/bin/sh\\n{cmd}\\n' > $sub/.git/hooks/post-commit
  chmod +x $sub/.git/hooks/post-commit
  printf '* filter=evil\\n' > $sub/.gitattributes
  echo 'inner' > $sub/inner.txt
done
echo 'gitdir: /etc' > pointer.git.dir.txt
mkdir -p gitfile && echo 'gitdir: /var/lib' > gitfile/.git && echo 'x' > gitfile/f.txt
"""


def test_what_the_dev_container_writes_under_workspace_never_configures_host_git(app, marker, runtime_image):
    """The container runs as today's dev container does (root inside, the workspace mounted at
    /workspace); root is the strongest case, the isolated dev container runs as the app user."""
    root = workspace_for(app).root
    services.file_write(app=app, path="before.md", content="before\n", user=app.owner)
    history_before = messages(app)
    real_git_dir = git.git_dir(root)
    config_before = (real_git_dir / "config").read_bytes() if real_git_dir.is_dir() else None

    engine = docker.from_env()
    out = engine.containers.run(runtime_image, ["sh", "-c", _planted_by_the_container(marker)], user="0:0",
                                volumes={str(root): {"bind": "/workspace", "mode": "rw"}}, working_dir="/workspace",
                                network_disabled=True, remove=True, stdout=True, stderr=True)
    assert (root / ".git" / "hooks" / "post-commit").exists(), out  # the plant is in place

    services.file_write(app=app, path="after.md", content="after\n", user=app.owner)
    services.file_write(app=app, path="after.md", content="after again\n", user=app.owner)
    services.entry_delete(app=app, path="before.md", user=app.owner)
    selectors.version_show(app=app, sha=selectors.history_list(app=app)[0].sha)

    assert not marker.exists(), "a command planted by the container ran on the host"
    assert messages(app) == ["Delete before.md", "Edit after.md", "Create after.md", *history_before]
    # MGX's own git directory is as MGX wrote it, and has no hooks.
    assert (real_git_dir / "config").read_text() == git.CLEAN_CONFIG
    if config_before is not None:
        assert (real_git_dir / "config").read_bytes() == config_before
    assert not (real_git_dir / "hooks").exists()
    # The nested repositories are not in MGX's history as submodules; the rest of the save is.
    _, patch = selectors.version_show(app=app, sha=[c for c in selectors.history_list(app=app) if c.message == "Create after.md"][0].sha)
    assert "Subproject commit" not in patch and "+after" in patch
    stored = git.tree_files(root, "HEAD")
    assert not [p for p, (mode, _) in stored.items() if mode == git.GITLINK]
    assert "gitfile/f.txt" in stored and "after.md" in stored  # a .git file pointing elsewhere is no repository
    assert "sub/inner.txt" not in stored  # a folder with its own repository stays out of MGX's history


def _move_history_into_the_workspace(app) -> Path:
    """Make the app look like one made by an older MGX: its history in <workspace>/.git."""
    root = workspace_for(app).root
    gd = git.git_dir(root)
    if gd.is_dir():
        shutil.move(str(gd), str(root / ".git"))
    return root / ".git"


def test_an_app_with_history_inside_its_workspace_keeps_it_and_its_planted_commands_never_run(app, marker):
    services.file_write(app=app, path="old.md", content="from the old days\n", user=app.owner)
    old_history = messages(app)
    old = _move_history_into_the_workspace(app)
    # What a container could have planted in the old, reachable .git.
    with open(old / "config", "a") as fh:
        fh.write(f'[core]\n\tfsmonitor = "touch {marker}"\n\thooksPath = {old}/hooks\n\tworktree = /etc\n'
                 f'[filter "evil"]\n\tclean = touch {marker}\n')
    (old / "hooks").mkdir(exist_ok=True)
    for hook in ("pre-commit", "post-commit"):
        (old / "hooks" / hook).write_text(f"#!/bin/sh\ntouch {marker}\n")
        (old / "hooks" / hook).chmod(0o755)
    (old / "info").mkdir(exist_ok=True)
    (old / "info" / "attributes").write_text("* filter=evil\n")
    (old / "objects" / "info").mkdir(exist_ok=True)
    (old / "objects" / "info" / "alternates").write_text("/etc\n")

    services.file_write(app=app, path="new.md", content="first save after the upgrade\n", user=app.owner)

    assert not marker.exists()
    assert messages(app) == ["Create new.md", *old_history]
    root = workspace_for(app).root
    assert not (root / ".git").exists()
    gd = git.git_dir(root)
    assert (gd / "config").read_text() == git.CLEAN_CONFIG
    assert not (gd / "hooks").exists() and not (gd / "objects" / "info" / "alternates").exists()
    # The old versions are still there to look at and to go back to.
    services.version_restore(app=app, sha=selectors.history_list(app=app)[-1].sha, user=app.owner)
    assert selectors.file_read(app=app, path="README.md").text.startswith("# Git Target")
    assert not marker.exists()


def test_restore_writes_the_old_files_through_the_workspace_owned_by_the_app_user(app, tmp_path):
    first = selectors.history_list(app=app)[0]
    services.file_write(app=app, path="docs/guide.md", content="guide v1\n", user=app.owner)
    with_docs = selectors.history_list(app=app)[0]
    services.file_write(app=app, path="docs/guide.md", content="guide v2\n", user=app.owner)
    services.file_write(app=app, path="README.md", content="changed\n", user=app.owner)
    services.file_write(app=app, path="extra.txt", content="later\n", user=app.owner)
    root = workspace_for(app).root
    # A container swaps the folder for a symlink to a host folder just before the restore.
    outside = tmp_path / "host-folder"
    outside.mkdir()
    (outside / "guide.md").write_text("host file\n")
    shutil.rmtree(root / "docs")
    os.symlink(outside, root / "docs")

    services.version_restore(app=app, sha=with_docs.sha, user=app.owner)

    assert (outside / "guide.md").read_text() == "host file\n"  # nothing written outside
    assert sorted(p.name for p in outside.iterdir()) == ["guide.md"]
    assert not (root / "docs").is_symlink()
    assert selectors.file_read(app=app, path="docs/guide.md").text == "guide v1\n"
    assert selectors.file_read(app=app, path="README.md").text.startswith("# Git Target")
    assert not (root / "extra.txt").exists()
    assert messages(app)[0] == f"Restore to version {with_docs.sha[:8]}"

    services.version_restore(app=app, sha=first.sha, user=app.owner)
    assert not (root / "docs" / "guide.md").exists()
    if os.geteuid() == 0:
        uid = owner.app_uid()
        wrong = [p for p in root.rglob("*") if p.lstat().st_uid != uid]
        assert not wrong, f"not owned by the app user after a restore: {wrong[:5]}"


@pytest.mark.skipif(os.geteuid() != 0, reason="MGX gives up root for git only when it has it")
def test_host_git_runs_as_the_app_user_and_owns_only_its_git_directory(app):
    gd = git.git_dir(workspace_for(app).root)
    services.file_write(app=app, path="x.md", content="x\n", user=app.owner)
    uid = owner.app_uid()
    objects = [p for p in (gd / "objects").rglob("*") if p.is_file()]
    assert objects and all(p.stat().st_uid == uid for p in objects)  # written by git itself
    assert (gd / "config").stat().st_uid == 0  # what configures git stays root's
    assert stat.S_IMODE((gd / "config").stat().st_mode) == 0o644
    assert git._git(workspace_for(app).root, "var", "GIT_COMMITTER_IDENT").returncode == 0
    ident = git._git(workspace_for(app).root, "rev-parse", "--git-dir").stdout.strip()
    assert ident == str(gd)


def test_the_workspace_lock_lives_beside_the_history(app):
    with services.workspace_lock(slug=app.slug):
        assert (Path(settings.MGX_GIT_ROOT) / f"{app.slug}.lock").exists()
    made = services.workspace_commit(app=app, message="Agent: nothing", author="agent")
    assert made is None
    (workspace_for(app).root / "by-agent.txt").write_text("hi\n")
    made = services.workspace_commit(app=app, message="Agent: add a file", author="agent")
    assert made is not None and messages(app)[0] == "Agent: add a file" and made.author == "agent"
