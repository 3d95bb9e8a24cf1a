"""Deleting an app removes everything that belongs to it, or nothing at all."""
import docker
import pytest

from agents.documents import AgentEvent, AgentRun
from agents.services import event_append
from agents.testing import agent_run
from containers.docker_client import container_name, labels
from deployments.gateway import gateway, route_for
from sessions_app.models import App
from studio.services import app_create
from workspaces import git
from workspaces.selectors import history_list
from workspaces.services import file_write, workspace_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(app_factory, user_factory):
    return app_factory(owner=user_factory(username="deleter"), name="Doomed App")


@pytest.fixture
def running_dev_container(app, runtime_image):
    """A container standing where the app's dev container stands (same name and labels)."""
    engine = docker.from_env()
    container = engine.containers.run(runtime_image, ["sleep", "600"], detach=True,
                                      name=container_name(slug=app.slug, role="dev"), labels=labels(slug=app.slug, role="dev"))
    gateway().set_route(route_for(slug=app.slug, stage="dev", upstream="127.0.0.1:9"))
    yield container
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass


def test_delete_removes_containers_routes_conversation_users_and_workspace(client, app, running_dev_container):
    event_append(session=app.slug, type="USER_MESSAGE", payload={"text": "hi", "user": "deleter"})
    agent_run(session=app.slug, status="done", run_id="old-run")
    file_write(app=app, path="secret-plan.md", content="old app's history\n", user=app.owner)
    root = workspace_for(app).root
    git_dir, lock = git.git_dir(root), git.lock_path(app.slug)
    client.force_login(app.owner)

    done = client.post(f"/sessions/{app.slug}/delete", {"confirm": app.slug}, follow=True)

    assert done.redirect_chain[-1][0] == "/"
    assert "Deleted Doomed App" in done.content.decode()
    assert not App.objects.filter(slug=app.slug).exists()
    assert not root.exists()
    assert not git_dir.exists() and not lock.exists()  # its history goes with it
    with pytest.raises(docker.errors.NotFound):
        docker.from_env().containers.get(running_dev_container.id)
    assert f"{app.slug}-dev" not in gateway().routes()
    assert AgentEvent.objects(session=app.slug).count() == 0 and AgentRun.objects(session=app.slug).count() == 0

    # The address is free again, and the new app starts with an empty conversation.
    again = app_create(owner=app.owner, name="Doomed App", framework="nextjs")
    assert again.slug == app.slug and AgentEvent.objects(session=again.slug).count() == 0
    # ... and fresh history: nothing of the deleted app's versions is reachable.
    assert [c.message for c in history_list(app=again)] == ["Create Doomed App from the Next.js template"]


def test_a_wrong_confirmation_deletes_nothing(client, app):
    client.force_login(app.owner)
    answer = client.post(f"/sessions/{app.slug}/delete", {"confirm": "yes"}, follow=True)
    assert "nothing was deleted" in answer.content.decode()
    assert App.objects.filter(slug=app.slug).exists() and workspace_for(app).root.exists()


def test_someone_else_cannot_delete_it(client, app, user_factory):
    client.force_login(user_factory(username="vandal"))
    assert client.post(f"/sessions/{app.slug}/delete", {"confirm": app.slug}).status_code == 404
    assert App.objects.filter(slug=app.slug).exists()


def test_with_the_docker_engine_gone_nothing_is_deleted(client, app, settings, tmp_path):
    from containers.docker_client import _client

    settings.MGX_DOCKER_HOST = f"unix://{tmp_path}/gone.sock"
    _client.cache_clear()
    try:
        client.force_login(app.owner)
        answer = client.post(f"/sessions/{app.slug}/delete", {"confirm": app.slug}, follow=True)
        assert "The app was not deleted." in answer.content.decode()
        assert App.objects.filter(slug=app.slug).exists() and workspace_for(app).root.exists()
    finally:
        _client.cache_clear()
