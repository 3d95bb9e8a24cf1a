"""Operator commands for apps (`./mgx manage app_list|app_create|app_delete`): they print what
they did, and refuse bad input with one clear line (CommandError, so a non-zero exit) and no
change."""
import json
from io import StringIO

import docker
import pytest
from django.core.management import CommandError, call_command

from containers.docker_client import container_name, labels
from sessions_app.models import App
from workspaces.services import workspace_for

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def apps():
    return sorted(App.objects.values_list("slug", flat=True))


def refused(*args) -> str:
    before = apps()
    with pytest.raises(CommandError) as exc:
        run(*args)
    assert apps() == before
    message = str(exc.value)
    assert message and "\n" not in message
    return message


# ---------------------------------------------------------------- app_list


def test_app_list_shows_every_app_with_owner_and_dev_phase(app_factory, user_factory):
    shop = app_factory(owner=user_factory(username="alice"), name="Sock Shop", framework="fastapi_vite")
    app_factory(owner=user_factory(username="bob"), name="Todo App")
    from deployments.models import DevEnvironment

    DevEnvironment.objects.create(app=shop, phase=DevEnvironment.Phase.READY)

    table = run("app_list").splitlines()

    assert table[0].split() == ["SLUG", "NAME", "FRAMEWORK", "OWNER", "DEV"]
    assert table[1].split() == ["sock-shop", "Sock", "Shop", "fastapi_vite", "alice", "ready"]
    assert table[2].split() == ["todo-app", "Todo", "App", "nextjs", "bob", "stopped"]
    assert table[3] == "2 apps"
    assert json.loads(run("app_list", "--json")) == [
        {"slug": "sock-shop", "name": "Sock Shop", "framework": "fastapi_vite", "owner": "alice", "dev": "ready"},
        {"slug": "todo-app", "name": "Todo App", "framework": "nextjs", "owner": "bob", "dev": "stopped"},
    ]


def test_app_list_says_when_there_are_none():
    assert "No apps yet" in run("app_list")
    assert json.loads(run("app_list", "--json")) == []


# ---------------------------------------------------------------- app_create


def test_app_create_makes_the_app_as_the_new_app_page_does(user_factory):
    user_factory(username="alice")

    out = run("app_create", "--owner", "alice", "--name", "Sock Shop", "--framework", "fastapi_vite",
              "--slug", "socks")

    app = App.objects.get(slug="socks")
    assert "Created app “Sock Shop” (FastAPI + React/Vite) at /apps/socks/ for alice" in out
    assert app.owner.username == "alice" and app.framework == "fastapi_vite"
    assert (workspace_for(app).root / "backend").is_dir()  # the template, copied
    assert app.oauth_client is not None  # and its login client, as on the page


@pytest.mark.parametrize("args,message", [
    (["--owner", "nobody", "--name", "X App", "--framework", "nextjs"], "No active MGX user named “nobody”"),
    (["--owner", "alice", "--name", "X App", "--framework", "rails"], "framework: Choose one of: Next.js"),
    (["--owner", "alice", "--name", "X App", "--framework", "nextjs", "--slug", "admin"], "slug:"),
    (["--owner", "alice", "--name", "  ", "--framework", "nextjs"], "name: Give the app a name."),
])
def test_app_create_refuses_bad_input(user_factory, args, message):
    user_factory(username="alice")
    assert message in refused("app_create", *args)


def test_app_create_refuses_a_taken_address(app_factory, user_factory):
    app_factory(owner=user_factory(username="alice"), name="Todo App")
    assert "The address “todo-app” is taken" in refused(
        "app_create", "--owner", "alice", "--name", "Todo App", "--framework", "nextjs")


# ---------------------------------------------------------------- app_delete


@pytest.fixture
def doomed(app_factory, user_factory, runtime_image):
    app = app_factory(owner=user_factory(username="alice"), name="Doomed App")
    engine = docker.from_env()
    container = engine.containers.run(runtime_image, ["sleep", "600"], detach=True,
                                      name=container_name(slug=app.slug, role="dev"),
                                      labels=labels(slug=app.slug, role="dev"))
    yield app, container
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass


def test_app_delete_without_yes_refuses_and_deletes_nothing(doomed):
    app, container = doomed

    message = refused("app_delete", app.slug)

    assert "add --yes" in message and "Nothing was deleted" in message
    assert workspace_for(app).root.exists()
    container.reload()
    assert container.status == "running"


def test_app_delete_with_yes_removes_the_app_its_container_and_workspace(doomed):
    app, container = doomed
    root = workspace_for(app).root

    out = run("app_delete", app.slug, "--yes")

    assert "Deleted app “Doomed App” (doomed-app)" in out
    assert not App.objects.filter(slug=app.slug).exists() and not root.exists()
    with pytest.raises(docker.errors.NotFound):
        docker.from_env().containers.get(container.id)


def test_app_delete_of_an_unknown_app_says_so():
    assert "No app at the address “ghost”" in refused("app_delete", "ghost", "--yes")
