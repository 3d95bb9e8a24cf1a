"""The apps gateway as nginx runs it (deployments/gateway/nginx.py, lua/): what MGX writes into
its configuration and its route table, what an app's answer cannot make it do, the dev-preview
decision it caches and forgets, the idle reaper's "last seen", the workers' user, and Redis
going away under it. The behaviour the gateway always had is in test_gateway*.py."""
import os
import time
from pathlib import Path

import pytest
import redis
import requests

from deployments.gateway import GatewayError, gateway, route_for
from deployments.gateway.builtin import ROUTES_KEY, SEEN_KEY
from deployments.gateway.nginx import ConfigError, render, safe
from mgx_site.cli import procs

PASSWORD = "correct horse battery"


def _live_env() -> dict:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="mgx_site.settings.test")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def _until(condition, *, within=10.0, what=""):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (value := condition()):
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {within} s: {what}")


@pytest.mark.parametrize("slug, stage, upstream", [
    ('evil"; include /etc/shadow; #', "prod", "127.0.0.1:5000"),
    ("Evil", "dev", "127.0.0.1:5000"),
    ("ok", "dev\n", "127.0.0.1:5000"),
    ("ok", "prod", "redis.internal:6379"),
    ("ok", "prod", "127.0.0.1:5000; proxy_pass http://127.0.0.1:6379"),
    ("ok", "prod", "127.0.0.1:0"),
])
def test_a_route_names_an_app_by_its_slug_and_a_container_by_its_address(slug, stage, upstream):
    with pytest.raises(GatewayError):
        route_for(slug=slug, stage=stage, upstream=upstream)


def test_the_configuration_carries_no_route_and_refuses_text_that_would_escape_its_strings(tmp_path):
    conf = render(prefix=tmp_path, listen="127.0.0.1:9", settings_file=tmp_path / "gateway.json", proxy_headers=False)
    assert "/apps/(?<mgx_slug>[a-z0-9-]+)/" in conf  # the slug rule, in the one place a URL meets it
    assert "127.0.0.1:5000" not in conf and "upstream mgx_app" in conf  # containers come from the Lua table
    for hostile in ('x"; include /etc/shadow; #', "x\n}", "x$host", "x{", "x?.lua"):
        with pytest.raises(ConfigError):
            safe(hostile, "a path")
        with pytest.raises(ConfigError):
            render(prefix=tmp_path / hostile, listen="127.0.0.1:9", settings_file=tmp_path / "g.json", proxy_headers=False)


pytestmark_live = pytest.mark.django_db(transaction=True)


@pytest.fixture
def routed(live, app_factory, user_factory, upstream):
    owner = user_factory(username="gwnginx")
    app = app_factory(owner=owner, name="Gw Nginx")
    for stage in ("dev", "prod"):
        gateway().set_route(route_for(slug=app.slug, stage=stage, upstream=f"127.0.0.1:{upstream.port}"))
    # nginx's workers hear of the route from Redis a moment later (the last test's teardown
    # removed the same one): wait until it is served, then forget the requests that waited.
    for _ in range(100):
        if requests.get(f"{live.apps_url}/apps/{app.slug}/prod/", timeout=10).status_code == 200:
            break
        time.sleep(0.1)
    upstream.seen.clear()
    yield app
    for stage in ("dev", "prod"):
        gateway().delete_route(f"{app.slug}-{stage}")


def _redis():
    from django.conf import settings

    return redis.Redis.from_url(settings.MGX_REDIS_URL)


@pytestmark_live
def test_a_route_in_redis_that_is_not_an_app_and_an_address_is_never_used(live, upstream):
    store = _redis()
    hostile = {
        "hostile-prod": '{"id": "hostile-prod", "upstream": "localhost:%d"}' % upstream.port,
        "hostile2-prod": '{"id": "hostile2-prod", "upstream": "127.0.0.1:%d; x"}' % upstream.port,
        'hostile3"-prod': '{"upstream": "127.0.0.1:%d"}' % upstream.port,
        "hostile4-prod": "not json",
    }
    store.hset(ROUTES_KEY, mapping=hostile)
    store.publish("mgx:gateway:changed", "hostile-prod")
    try:
        for slug in ("hostile", "hostile2", "hostile4"):
            got = requests.get(f"{live.apps_url}/apps/{slug}/prod/", timeout=10)
            assert got.status_code == 404 and "Not found" in got.text, slug  # no app of that name either
        got = requests.get(f"{live.apps_url}/apps/hostile3%22/prod/", timeout=10)
        assert got.status_code == 404
        assert upstream.seen == []
        log = live.layout.logfile("gateway").read_text(errors="replace")
        assert "ignored route hostile-prod" in log and "ignored route hostile2-prod" in log
    finally:
        store.hdel(ROUTES_KEY, *hostile)


@pytestmark_live
def test_an_apps_answer_cannot_steer_the_gateway_to_mgx_or_another_apps_preview(live, routed, upstream, app_factory):
    other = app_factory(owner=routed.owner, name="Gw Other")
    gateway().set_route(route_for(slug=other.slug, stage="dev", upstream=f"127.0.0.1:{upstream.port}"))
    owner = live.login("gwnginx", PASSWORD)
    try:
        for target in (f"/apps/{other.slug}/dev/secret", "/@mgx_websocket", "/@mgx_unavailable", "/"):
            got = owner.get(f"{live.apps_url}/apps/{routed.slug}/prod/accel", params={"to": target}, timeout=10)
            assert got.status_code == 200 and got.text == "the app's own answer", target
            assert not any(name.lower().startswith("x-accel") for name in got.headers)
        assert [seen["path"].split("?")[0] for seen in upstream.seen] == [f"/apps/{routed.slug}/prod/accel"] * 4
    finally:
        gateway().delete_route(f"{other.slug}-dev")


@pytestmark_live
def test_a_dev_decision_is_cached_and_a_logout_drops_it_at_once(live, routed, user_factory):
    """The decision is MGX's (its access check); nginx keeps it. With the access check stopped,
    the owner's cached decision still opens the preview and nobody else gets in; the logout
    voids it (every gateway worker says so before the logout answers), and the very next
    request must ask MGX again."""
    preview = f"{live.apps_url}/apps/{routed.slug}/dev/"
    owner = live.login("gwnginx", PASSWORD)
    user_factory(username="gwcached")
    stranger = live.login("gwcached", PASSWORD)
    assert owner.get(preview, timeout=10).status_code == 200  # decided by MGX, now cached
    sid = owner.cookies["sessionid"]
    check = live.stack["gateway-auth"]
    procs.stop(live.layout, check)
    same_header = {"Cookie": f"sessionid={sid}"}
    try:
        assert owner.get(preview, timeout=10).status_code == 200  # from the cache
        # The session alone, as the stale requests below send it: decided from the shared cache,
        # then from each worker's own memory of that header (new connections reach both workers).
        for _ in range(8):
            assert requests.get(preview, allow_redirects=False, timeout=10, headers=same_header).status_code == 200
        unknown = stranger.get(preview, allow_redirects=False, timeout=10)
        assert unknown.status_code == 503 and "MGX does not answer" in unknown.text
        out = owner.post(f"{live.url}/accounts/logout/", allow_redirects=False, timeout=10,
                         data={"csrfmiddlewaretoken": owner.cookies["csrftoken"]}, headers={"Referer": f"{live.url}/"})
        assert out.status_code == 302
        for _ in range(8):
            stale = requests.get(preview, allow_redirects=False, timeout=10, headers=same_header)
            assert stale.status_code == 503  # not the cached "ok": MGX is asked again, and does not answer
    finally:
        procs.start(live.layout, check, env=_live_env())
    again = requests.get(preview, allow_redirects=False, timeout=10, headers={"Cookie": f"sessionid={sid}"})
    assert again.status_code == 302 and "/accounts/login/" in again.headers["Location"]


def test_a_logout_is_answered_once_every_gateway_worker_has_dropped_its_decisions(live):
    from django.conf import settings

    from deployments.gateway.builtin import auth_invalidate

    master = procs.running_pid(live.layout, live.stack["gateway"])
    workers = [pid for pid in os.listdir("/proc") if pid.isdigit() and _parent(int(pid)) == master]
    assert auth_invalidate(redis_url=settings.MGX_REDIS_URL, session_key="no-such-session") == len(workers) > 0


@pytestmark_live
def test_a_preview_request_tells_the_idle_reaper_the_app_was_seen(live, app_factory, user_factory, upstream):
    # Apps of their own: each worker writes an app's mark at most every SEEN_EVERY seconds.
    owner_user = user_factory(username="gwseen")
    app = app_factory(owner=owner_user, name="Gw Seen")
    public = app_factory(owner=owner_user, name="Gw Seen Prod")
    key, public_key = SEEN_KEY.format(slug=app.slug), SEEN_KEY.format(slug=public.slug)
    store = _redis()
    store.delete(key, public_key)
    routes = [route_for(slug=app.slug, stage="dev", upstream=f"127.0.0.1:{upstream.port}"),
              route_for(slug=public.slug, stage="prod", upstream=f"127.0.0.1:{upstream.port}")]
    for route in routes:
        gateway().set_route(route)
    try:
        owner = live.login("gwseen", PASSWORD)
        before = int(time.time())
        # One kept-alive connection, so one worker: a mark of the production request would be
        # written before the dev preview's, which is waited for.
        owner.get(f"{live.apps_url}/apps/{public.slug}/prod/", timeout=10)
        assert owner.get(f"{live.apps_url}/apps/{app.slug}/dev/", timeout=10).status_code == 200
        seen = _until(lambda: store.get(key), within=5, what="the seen mark")
        assert store.get(public_key) is None  # production is not the idle reaper's
        assert before <= int(seen) <= time.time() + 1
        assert 0 < store.ttl(key) <= 7 * 24 * 3600
    finally:
        for route in routes:
            gateway().delete_route(route.id)


@pytestmark_live
def test_forwarding_headers_in_any_spelling_are_the_gateways_own(live, routed, upstream):
    requests.get(f"{live.apps_url}/apps/{routed.slug}/prod/h", timeout=10, headers={
        "x-FORWARDED-host": "evil.example", "X-Forwarded-Port": "1", "Forwarded": "for=6.6.6.6;host=evil.example",
        "X-Forwarded-Prefix": "/evil", "X-Real-Ip-Not-Forwarded": "kept"})
    seen = {k.lower(): v for k, v in upstream.seen[-1]["headers"].items()}
    assert seen["x-forwarded-host"] == live.apps_url.split("://")[1]
    assert "forwarded" not in seen and "x-forwarded-port" not in seen and "x-forwarded-prefix" not in seen
    assert seen["x-real-ip-not-forwarded"] == "kept"
    assert seen["x-forwarded-proto"] == "http"


def test_outside_apps_the_gateway_says_where_apps_live(live):
    got = requests.get(f"{live.apps_url}/admin/", timeout=10)
    assert got.status_code == 404 and "Apps live under" in got.text


def test_nginx_workers_do_not_run_as_root(live):
    master = procs.running_pid(live.layout, live.stack["gateway"])
    assert master is not None and "nginx: master process" in Path(f"/proc/{master}/cmdline").read_text()
    workers = [pid for pid in os.listdir("/proc") if pid.isdigit()
               and Path(f"/proc/{pid}/stat").exists() and _parent(int(pid)) == master]
    assert workers
    for pid in workers:
        uid = int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                       if line.startswith("Uid:")).split()[1])
        assert uid != 0 or os.geteuid() != 0, f"worker {pid} runs as root"
        assert uid == os.geteuid() or os.geteuid() == 0


def _parent(pid: int):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


@pytestmark_live
@pytest.mark.timeout(180)
def test_after_redis_restarts_route_changes_reach_the_gateway_again(live, routed, upstream):
    owner = live.login("gwnginx", PASSWORD)
    assert requests.get(f"{live.apps_url}/apps/{routed.slug}/prod/", timeout=10).status_code == 200
    store = live.stack["redis"]
    procs.stop(live.layout, store)
    try:
        # Redis away: the gateway keeps serving the routes it knew.
        assert requests.get(f"{live.apps_url}/apps/{routed.slug}/prod/", timeout=10).status_code == 200
        dev = owner.get(f"{live.apps_url}/apps/{routed.slug}/dev/", allow_redirects=False, timeout=20)
        assert dev.status_code == 200  # decided by MGX (nothing cached without the epoch)
    finally:
        procs.start(live.layout, store)
    gateway().delete_route(f"{routed.slug}-prod")
    _until(lambda: requests.get(f"{live.apps_url}/apps/{routed.slug}/prod/", timeout=10).status_code == 502,
           within=10, what="the removed route no longer served")
