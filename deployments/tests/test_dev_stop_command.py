"""`./mgx manage dev_stop <slug>` and `dev_stop --all-idle`: the deployments services an
operator reaches for, with what they stopped printed and bad input refused."""
import time
from datetime import timedelta
from io import StringIO

import docker
import pytest
import redis
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from containers.docker_client import container_name, labels
from deployments.gateway import gateway, route_for
from deployments.gateway.builtin import SEEN_KEY
from deployments.models import DevEnvironment

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("dev_stop", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def running(app_factory, user_factory, runtime_image):
    """Apps whose dev container runs: a real container where the dev container stands (same
    name and labels), its gateway route, and its row saying ready since `started`."""
    engine = docker.from_env()
    made = []

    def make(name, *, started_ago=0, seen_ago=None):
        app = app_factory(owner=user_factory(username=f"owner-{len(made)}"), name=name)
        container = engine.containers.run(runtime_image, ["sleep", "600"], detach=True,
                                          name=container_name(slug=app.slug, role="dev"),
                                          labels=labels(slug=app.slug, role="dev"))
        made.append(container)
        gateway().set_route(route_for(slug=app.slug, stage="dev", upstream="127.0.0.1:9"))
        DevEnvironment.objects.create(app=app, phase=DevEnvironment.Phase.READY, container_id=container.id,
                                      started_at=timezone.now() - timedelta(seconds=started_ago))
        r = redis.Redis.from_url(settings.MGX_REDIS_URL)
        if seen_ago is not None:
            r.set(SEEN_KEY.format(slug=app.slug), time.time() - seen_ago)
        else:
            r.delete(SEEN_KEY.format(slug=app.slug))
        return app, container

    yield make
    for container in made:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass


def gone(container) -> bool:
    try:
        docker.from_env().containers.get(container.id)
    except docker.errors.NotFound:
        return True
    return False


def test_dev_stop_stops_one_apps_dev_server(running):
    app, container = running("Busy App")

    out = run(app.slug)

    assert out.strip() == "Stopped the dev server of busy-app (it was ready)."
    assert gone(container)
    assert DevEnvironment.objects.get(app=app).phase == DevEnvironment.Phase.STOPPED
    assert f"{app.slug}-dev" not in gateway().routes()


def test_dev_stop_all_idle_stops_only_the_idle_ones(running):
    idle = settings.MGX_DEV_IDLE_TIMEOUT
    sleepy, sleepy_container = running("Sleepy App", started_ago=idle + 60, seen_ago=idle + 5)
    busy, busy_container = running("Busy App", started_ago=idle + 60, seen_ago=5)

    out = run("--all-idle")

    assert out.strip() == f"Stopped 1 dev server idle for {idle // 60} minutes or more: sleepy-app"
    assert gone(sleepy_container) and not gone(busy_container)
    assert DevEnvironment.objects.get(app=busy).phase == DevEnvironment.Phase.READY
    assert "nothing was stopped" in run("--all-idle")


@pytest.mark.parametrize("args,message", [
    ([], "Give an app's address (dev_stop <slug>) or --all-idle"),
    (["busy-app", "--all-idle"], "not both"),
    (["ghost"], "No app at the address “ghost”"),
])
def test_dev_stop_refuses_bad_input_and_stops_nothing(running, args, message):
    app, container = running("Busy App")

    with pytest.raises(CommandError) as refused:
        run(*args)

    assert message in str(refused.value)
    assert not gone(container) and DevEnvironment.objects.get(app=app).phase == DevEnvironment.Phase.READY
