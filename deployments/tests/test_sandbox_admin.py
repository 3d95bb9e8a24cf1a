"""Seed 002's sandbox operations for MGX admins: over the API and as Django admin actions on the
dev environments, stopping one app's containers or every idle one, and nobody else's business."""
import json
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from deployments.gateway.builtin import SEEN_KEY
from deployments.models import DevEnvironment

pytestmark = pytest.mark.django_db
Phase = DevEnvironment.Phase


@pytest.fixture
def admin_user(user_factory):
    return user_factory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def devs(app_factory):
    """Two apps whose dev containers MGX believes are running: one nobody has visited for hours,
    one visited a moment ago (the gateway's record of the last request, in Redis)."""
    idle = app_factory(name="Idle One")
    busy = app_factory(name="Busy One")
    long_ago = timezone.now() - timedelta(seconds=settings.MGX_DEV_IDLE_TIMEOUT + 3600)
    DevEnvironment.objects.create(app=idle, phase=Phase.READY, started_at=long_ago)
    DevEnvironment.objects.create(app=busy, phase=Phase.READY, started_at=long_ago)
    r = redis.Redis.from_url(settings.MGX_REDIS_URL)
    r.set(SEEN_KEY.format(slug=busy.slug), timezone.now().timestamp())
    yield idle, busy
    r.delete(SEEN_KEY.format(slug=busy.slug))


def phases():
    return dict(DevEnvironment.objects.values_list("app__slug", "phase"))


def post(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def test_destroy_all_stops_only_the_idle_containers_and_destroy_stops_one_app(client, admin_user, devs):
    idle, busy = devs
    client.force_login(admin_user)
    answer = post(client, "/api/sandbox/destroy_all")
    assert answer.status_code == 200 and answer.json() == {"stopped": [idle.slug]}
    assert phases() == {idle.slug: Phase.STOPPED, busy.slug: Phase.READY}

    answer = post(client, "/api/sandbox/destroy", {"session_id": busy.slug})
    assert answer.status_code == 200 and answer.json()["dev"]["phase"] == "stopped"
    assert phases()[busy.slug] == Phase.STOPPED
    assert post(client, "/api/sandbox/destroy", {"session_id": "no-such-app"}).status_code == 404


def test_the_owner_cannot_destroy_even_their_own_sandbox(client, devs):
    idle, _busy = devs
    client.force_login(idle.owner)
    for url, body in (("/api/sandbox/destroy", {"session_id": idle.slug}), ("/api/sandbox/destroy_all", None)):
        refused = post(client, url, body)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert phases()[idle.slug] == Phase.READY


def test_the_admin_actions_stop_idle_containers_or_the_selected_ones(client, admin_user, devs):
    idle, busy = devs
    client.force_login(admin_user)
    changelist = "/admin/deployments/devenvironment/"
    page = client.get(changelist)
    assert page.status_code == 200
    assert "Stop every idle dev container" in page.content.decode() and "sandbox destroy" in page.content.decode()

    done = client.post(changelist, {"action": "stop_idle", "_selected_action": [busy.dev.pk]}, follow=True)
    assert f"Stopped 1 idle dev container: {idle.slug}." in done.content.decode()
    assert phases() == {idle.slug: Phase.STOPPED, busy.slug: Phase.READY}  # the selection did not matter

    done = client.post(changelist, {"action": "stop_selected", "_selected_action": [busy.dev.pk]}, follow=True)
    assert f"Stopped: {busy.slug}." in done.content.decode()
    assert phases()[busy.slug] == Phase.STOPPED
