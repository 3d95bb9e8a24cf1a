"""The builtin gateway process (its own origin, MGX_APPS_URL) in front of a real upstream server."""
import json

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from deployments.gateway import gateway, route_for


pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def routed(app_factory, user_factory, upstream):
    app = app_factory(owner=user_factory(username="gwowner"), name="Gw App")
    for stage in ("dev", "prod"):
        gateway().set_route(route_for(slug=app.slug, stage=stage, upstream=f"127.0.0.1:{upstream.port}"))
    yield app
    for stage in ("dev", "prod"):
        gateway().delete_route(f"{app.slug}-{stage}")


def test_requests_reach_the_upstream_with_the_prefix_kept_and_forwarded_headers(live, routed, upstream):
    owner = live.login("gwowner", "correct horse battery")
    got = owner.get(f"{live.apps_url}/apps/{routed.slug}/dev/some/page?q=1", timeout=10)

    assert got.status_code == 200 and got.headers["X-Upstream"] == "yes"
    body = got.json()
    assert body["path"] == f"/apps/{routed.slug}/dev/some/page?q=1"  # the prefix is not stripped
    assert body["forwarded_for"] == "127.0.0.1"
    assert body["forwarded_host"] == live.apps_url.split("://")[1]


def test_large_bodies_stream_through_both_ways_and_redirects_are_passed_on(live, routed, upstream):
    owner = live.login("gwowner", "correct horse battery")
    blob = b"x" * (5 * 1024 * 1024)
    got = owner.post(f"{live.apps_url}/apps/{routed.slug}/dev/upload", data=blob, timeout=30)
    assert got.json()["received"] == len(blob)

    moved = owner.get(f"{live.apps_url}/apps/{routed.slug}/dev/redirect", allow_redirects=False, timeout=10)
    assert moved.status_code == 302 and moved.headers["Location"] == "/elsewhere"


def test_a_websocket_upgrade_is_relayed_to_the_upstream(live, routed):
    owner = live.login("gwowner", "correct horse battery")
    with connect(f"{live.apps_ws}/apps/{routed.slug}/dev/hmr", subprotocols=["vite-hmr"],
                 additional_headers={"Cookie": f"sessionid={owner.cookies['sessionid']}", "Origin": live.apps_url},
                 open_timeout=10) as ws:
        assert ws.subprotocol == "vite-hmr"
        ws.send("hello")
        assert ws.recv(timeout=10) == "upstream got: hello"
        ws.send(b"\x01\x02\x03")
        assert ws.recv(timeout=10) == b"\x03\x02\x01"


def test_dev_is_private_to_the_owner_and_prod_is_public(live, routed, user_factory):
    anonymous = requests.get(f"{live.apps_url}/apps/{routed.slug}/dev/", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith(f"{live.url}/accounts/login/?next=")

    user_factory(username="stranger")
    stranger = live.login("stranger", "correct horse battery")
    assert stranger.get(f"{live.apps_url}/apps/{routed.slug}/dev/", timeout=10).status_code == 404
    with pytest.raises(InvalidStatus):
        connect(f"{live.apps_ws}/apps/{routed.slug}/dev/hmr", open_timeout=10,
                additional_headers={"Cookie": f"sessionid={stranger.cookies['sessionid']}"})

    assert requests.get(f"{live.apps_url}/apps/{routed.slug}/prod/", timeout=10).json()["path"] == f"/apps/{routed.slug}/prod/"


def test_another_site_cannot_open_the_owners_dev_websocket(live, routed):
    owner = live.login("gwowner", "correct horse battery")
    with pytest.raises(InvalidStatus):
        connect(f"{live.apps_ws}/apps/{routed.slug}/dev/hmr", open_timeout=10,
                additional_headers={"Cookie": f"sessionid={owner.cookies['sessionid']}", "Origin": "http://evil.example"})


def test_a_stopped_upstream_gets_a_friendly_502_with_a_way_to_start_it(live, routed, upstream):
    owner = live.login("gwowner", "correct horse battery")
    upstream.stop()
    down = owner.get(f"{live.apps_url}/apps/{routed.slug}/dev/", timeout=10)
    assert down.status_code == 502
    assert "dev server of" in down.text and "is not running" in down.text
    assert f'href="{live.url}/sessions/{routed.slug}/?tab=dev"' in down.text

    gateway().delete_route(f"{routed.slug}-prod")  # pushed to the gateway: no waiting on a cache
    gone = requests.get(f"{live.apps_url}/apps/{routed.slug}/prod/", timeout=10)
    assert gone.status_code == 502 and "is not deployed" in gone.text
    # An app nobody made is not "not deployed": it is not found, and says nothing of MGX's apps.
    nobody = requests.get(f"{live.apps_url}/apps/nobody-made-this/prod/", timeout=10)
    assert nobody.status_code == 404 and "Not found" in nobody.text and "not deployed" not in nobody.text


def test_the_route_table_is_readable_through_the_interface(routed, upstream):
    routes = gateway().routes()
    assert routes[f"{routed.slug}-dev"].prefix == f"/apps/{routed.slug}/dev/"
    assert routes[f"{routed.slug}-dev"].upstream == f"127.0.0.1:{upstream.port}"
    assert json.loads(json.dumps(routes[f"{routed.slug}-prod"].as_dict()))["id"] == f"{routed.slug}-prod"
