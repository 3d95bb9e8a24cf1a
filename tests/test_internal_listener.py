"""Daphne's internal listener (on the Docker bridge, for containers) answers only what
containers need: the agent API, and the provider's machine endpoints that app containers fetch
(token, JWKS, userinfo, discovery). MGX's pages, admin and API stay off it, and the agent API
stays off the public port."""
import requests


def test_app_containers_reach_the_provider_machine_endpoints_and_nothing_else(live):
    inside = live.internal_url
    jwks = requests.get(f"{inside}/oauth2/.well-known/jwks.json", timeout=10)
    assert jwks.status_code == 200 and jwks.json()["keys"]
    discovery = requests.get(f"{inside}/.well-known/openid-configuration", timeout=10).json()
    assert discovery["issuer"] == live.url  # tokens name the public URL, whichever door served them
    token = requests.post(f"{inside}/oauth2/token/", data={"grant_type": "password", "client_id": "nobody"}, timeout=10)
    assert token.status_code in (400, 401) and "error" in token.json()  # the provider answered
    userinfo = requests.get(f"{inside}/oauth2/userinfo/", timeout=10)
    assert userinfo.status_code == 401

    for path in ("/", "/admin/", "/api/me", "/healthz", "/accounts/login/", "/oauth2/authorize/",
                 "/oauth2/apps/x/login/"):
        assert requests.get(f"{inside}{path}", timeout=10, allow_redirects=False).status_code == 404, path


def test_the_public_port_serves_the_provider_but_never_the_agent_api(live):
    assert requests.get(f"{live.url}/oauth2/.well-known/jwks.json", timeout=10).status_code == 200
    assert requests.get(f"{live.url}/internal/agent/run", timeout=10).status_code == 404
