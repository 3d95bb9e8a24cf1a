"""Issue 9, small leaks, on the live stack: what /healthz tells a stranger, and which pages may
open MGX's event websockets."""
import time
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

pytestmark = pytest.mark.django_db(transaction=True)

SERVICES = {"database", "mongodb", "redis", "docker", "celery"}


def _healthy(live, **kwargs):
    """/healthz once every service answers (the worker may still be starting)."""
    deadline = time.monotonic() + 60
    while True:
        response = requests.get(f"{live.url}/healthz", timeout=15, **kwargs)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def _secrets_of_this_host():
    """Strings that tell an attacker where MGX's services are and what runs them."""
    mongo, redis_ = urlsplit(settings.MGX_MONGO_URL), urlsplit(settings.MGX_REDIS_URL)
    return [mongo.netloc, str(mongo.port), redis_.netloc, str(redis_.port), settings.MGX_DOCKER_HOST,
            "docker.sock", "celery@", "worker", "engine", "sqlite"]


def test_anonymous_healthz_says_only_what_is_up(live):
    response = _healthy(live)

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {name: "ok" for name in SERVICES}}
    for leaked in _secrets_of_this_host():
        assert leaked not in response.text, leaked


def test_an_ordinary_user_sees_no_details_either(live, user_factory):
    alice = user_factory(username="alice")
    http = live.login("alice", alice.raw_password)

    response = _healthy(live, cookies=http.cookies)

    assert set(response.json()) == {"status", "checks"}
    for leaked in _secrets_of_this_host():
        assert leaked not in response.text, leaked


def test_an_admin_sees_the_details_with_a_session_or_a_bearer_token(live, user_factory):
    user_factory(username="root", is_staff=True, is_superuser=True)
    http = live.login("root", "correct horse battery")
    token = requests.post(f"{live.url}/oauth2/token/", timeout=10, data={
        "grant_type": "password", "client_id": "mgx", "username": "root", "password": "correct horse battery"}).json()

    for kwargs in ({"cookies": http.cookies}, {"headers": {"Authorization": f"Bearer {token['access_token']}"}}):
        body = _healthy(live, **kwargs).json()
        assert body["status"] == "ok" and set(body["checks"]) == SERVICES
        assert set(body["services"]) == SERVICES
        assert settings.MGX_DOCKER_HOST in body["services"]["docker"]["detail"]
        assert "worker(s)" in body["services"]["celery"]["detail"]


# ---------------------------------------------------------------- websocket Origin


def _events(live, app, session, origin):
    headers = {"Cookie": f"sessionid={session.cookies['sessionid']}"}
    if origin is not None:
        headers["Origin"] = origin
    return connect(f"{live.ws_url}/ws/apps/{app.slug}/", additional_headers=headers, open_timeout=10)


@pytest.fixture
def owner_app(live, user_factory, app_factory):
    owner = user_factory(username="wsowner")
    return app_factory(owner=owner, name="Socket App"), live.login("wsowner", owner.raw_password)


def test_event_socket_accepts_mgx_own_origin(live, owner_app):
    app, session = owner_app
    assert settings.MGX_PUBLIC_URL == live.url
    with _events(live, app, session, live.url) as ws:
        ws.ping().wait(10)


@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:8080",  # the apps origin, where untrusted app pages live
    "https://127.0.0.1:{port}",  # another scheme
    "http://evil.example:{port}",
    None,  # no browser sends no Origin; a cookie-authenticated socket wants to know the page
])
@pytest.mark.parametrize("path", ["/ws/apps/{slug}/", "/ws/apps/{slug}/agent/"])
def test_event_sockets_refuse_every_other_origin(live, owner_app, origin, path):
    app, session = owner_app
    port = urlsplit(live.url).port
    headers = {"Cookie": f"sessionid={session.cookies['sessionid']}"}
    if origin is not None:
        headers["Origin"] = origin.format(port=port)
    with pytest.raises(InvalidStatus) as refused:
        with connect(live.ws_url + path.format(slug=app.slug), additional_headers=headers, open_timeout=10):
            pass
    assert refused.value.response.status_code == 403


def test_the_host_the_request_came_in_on_counts_only_with_its_own_port(live, owner_app):
    app, session = owner_app
    port = urlsplit(live.url).port
    cookie = {"Cookie": f"sessionid={session.cookies['sessionid']}"}
    # localhost is in ALLOWED_HOSTS: a page loaded from http://localhost:<port> is MGX's too.
    with connect(f"ws://localhost:{port}/ws/apps/{app.slug}/", open_timeout=10,
                 additional_headers={**cookie, "Origin": f"http://localhost:{port}"}) as ws:
        ws.ping().wait(10)
    with pytest.raises(InvalidStatus) as refused:
        with connect(f"ws://localhost:{port}/ws/apps/{app.slug}/", open_timeout=10,
                     additional_headers={**cookie, "Origin": "http://localhost:8080"}):
            pass
    assert refused.value.response.status_code == 403


def test_the_dashboard_system_panel_shows_details_to_admins_only(live, user_factory):
    alice = user_factory(username="alice")
    user_factory(username="root", is_staff=True, is_superuser=True)
    ordinary = live.login("alice", alice.raw_password).get(f"{live.url}/system-status/", timeout=15)
    admin = live.login("root", "correct horse battery").get(f"{live.url}/system-status/", timeout=15)

    assert "MongoDB" in ordinary.text and "Docker" in ordinary.text  # up/down by name, as before
    assert settings.MGX_DOCKER_HOST not in ordinary.text and "worker(s)" not in ordinary.text
    assert settings.MGX_DOCKER_HOST in admin.text
