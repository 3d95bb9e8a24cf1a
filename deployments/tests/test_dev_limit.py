"""Running dev servers per user (MGX_MAX_DEV_SERVERS_PER_USER), against a real dev container:
with the owner's limit taken by a running server, starting another of their apps is refused
from the service, the Dev tab and the API, with a message naming the limit, and nothing
changes (no queued start, no container). Other people's servers do not count; stopping one
makes room."""
import docker
import pytest

from containers.docker_client import container_name
from containers.frameworks import DESCRIPTORS, cheap_dev
from core.errors import LimitReached
from deployments import services
from deployments.models import DevEnvironment

pytestmark = pytest.mark.django_db(transaction=True)
Phase = DevEnvironment.Phase

CHEAP_DEV = r"""
echo "MGX_PHASE starting"
mkdir -p /tmp/site/apps/$MGX_APP_SLUG/dev
cd /tmp/site && exec python3 -m http.server 3000 >/dev/null 2>&1
"""


@pytest.fixture
def running(runtime_image, app_factory, user_factory, monkeypatch, settings):
    """Alice's first app runs a (cheap) dev server, which is all her limit of one allows."""
    settings.MGX_MAX_DEV_SERVERS_PER_USER = 1
    monkeypatch.setitem(DESCRIPTORS, "nextjs", cheap_dev(DESCRIPTORS["nextjs"], CHEAP_DEV))
    alice = user_factory(username="alice")
    first = app_factory(owner=alice, name="First App")
    dev = services.dev_boot(app=first)
    assert dev.phase == Phase.READY, f"{dev.message}\n{dev.last_log}"
    yield alice, first
    services.dev_stop(app=first)


def _untouched(app) -> bool:
    dev = DevEnvironment.objects.filter(app=app).first()
    if dev is not None and dev.phase != Phase.STOPPED:
        return False
    try:
        docker.from_env().containers.get(container_name(slug=app.slug, role="dev"))
    except docker.errors.NotFound:
        return True
    return False


def test_a_second_dev_server_is_refused_and_nothing_changes(running, app_factory, user_factory, client):
    alice, first = running
    second = app_factory(owner=alice, name="Second App")
    with pytest.raises(LimitReached) as refused:
        services.dev_start(app=second)
    message = str(refused.value)
    assert "MGX_MAX_DEV_SERVERS_PER_USER" in message and first.slug in message
    assert _untouched(second)

    client.force_login(alice)
    panel = client.post(f"/sessions/{second.slug}/dev/start", HTTP_HX_REQUEST="true")
    assert panel.status_code == 422 and "MGX_MAX_DEV_SERVERS_PER_USER" in panel.content.decode()
    api = client.post(f"/api/apps/{second.slug}/dev/start", "{}", content_type="application/json")
    assert api.status_code == 409 and "MGX_MAX_DEV_SERVERS_PER_USER" in api.json()["error"]["message"]
    assert _untouched(second)

    # Someone else's app is not Alice's count. (Its start is queued, then stopped at once: no
    # worker runs in this test, and a worker that takes the task later finds nothing to boot.)
    bob_app = app_factory(owner=user_factory(username="bob"), name="Bobs App")
    assert services.dev_start(app=bob_app).phase == Phase.CREATING
    services.dev_stop(app=bob_app)


def test_stopping_one_makes_room(running, app_factory):
    alice, first = running
    second = app_factory(owner=alice, name="Second App")
    services.dev_stop(app=first)
    assert services.dev_start(app=second).phase == Phase.CREATING
    services.dev_stop(app=second)
