"""The admins' model page (/admin/model/): the endpoint, write-only key and models an admin sets
apply to the next run without a restart; the environment wins where it is set; the Test says
plainly what the endpoint answered; only MGX admins see or change any of it; the key never shows
up in a page, an API answer or a log. The model is the scripted server, over real HTTP."""
import contextlib
import json
import logging
import socket

import pytest

from agents import selectors
from agents.containers import agent_container_config
from agents.endpoint import endpoint_check
from agents.models import ModelSettings
from agents.testing import ScriptedLLM, reply
from workspaces.services import workspace_for

pytestmark = pytest.mark.django_db

KEY = "sk-test-9f8e7d6c5b4a-only-here"


@pytest.fixture
def admin(user_factory):
    return user_factory(username="root-admin", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _save(client, **fields):
    data = {"base_url": "", "api_key": "", "model": "", **fields}
    return client.post("/admin/model/", data)


def test_an_admin_sets_the_model_and_the_next_run_gets_it_without_a_restart(admin_client, app_factory):
    assert not selectors.model_configured()
    page = admin_client.get("/admin/model/")
    assert page.status_code == 200 and b"no model configured" in page.content

    done = _save(admin_client, base_url="http://127.0.0.1:11434/v1/", api_key=KEY, model="qwen2.5-coder:14b",
                 model_engineer="qwen2.5-coder:32b")
    assert done.status_code == 302

    config = selectors.model_config()
    assert (config.base_url, config.api_key, config.model) == ("http://127.0.0.1:11434/v1", KEY, "qwen2.5-coder:14b")
    assert config.role_models == {"engineer": "qwen2.5-coder:32b"}
    assert config.sources["base_url"] == config.sources["api_key"] == selectors.ADMIN
    # What the next agent container is started with: read now, not at MGX's start.
    app = app_factory(name="Model Pick")
    env = agent_container_config(app=app, run_id="r1", token="t", workspace_root=workspace_for(app).root,
                                 model=selectors.model_config())["environment"]
    assert env["MGX_LLM_BASE_URL"] == "http://host.docker.internal:11434/v1"
    assert env["MGX_LLM_API_KEY"] == KEY and env["MGX_LLM_MODEL"] == "qwen2.5-coder:14b"
    assert env["MGX_LLM_MODEL_ENGINEER"] == "qwen2.5-coder:32b" and "MGX_LLM_MODEL_QA" not in env


def test_the_key_is_write_only_never_in_a_page_an_api_answer_or_a_log(admin_client, admin, caplog):
    caplog.set_level(logging.DEBUG)
    with ScriptedLLM([reply("ready")], api_key=KEY) as llm:
        assert _save(admin_client, base_url=llm.base_url, api_key=KEY, model="scripted-model").status_code == 302
        stored = ModelSettings.objects.get()
        assert KEY not in stored.api_key_sealed and stored.api_key_sealed  # sealed, not the key itself
        assert KEY not in str(stored) and KEY not in repr(selectors.model_config())

        page = admin_client.get("/admin/model/")
        assert KEY.encode() not in page.content
        assert b'id="key-state">set<' in page.content
        assert b'name="api_key" type="password"' in page.content

        tested = admin_client.post("/admin/model/test", HTTP_HX_REQUEST="true")
        assert b"It works" in tested.content and b"ready" in tested.content
        assert KEY.encode() not in tested.content
        assert llm.authorizations[-1] == f"Bearer {KEY}"  # the endpoint did get it

        # Saving the form again without typing a key keeps the key.
        assert _save(admin_client, base_url=llm.base_url, model="scripted-model").status_code == 302
        assert selectors.model_config().api_key == KEY

    # The endpoint repeats a wrong key back (some do): the page does not.
    with ScriptedLLM([], api_key="sk-another-key") as strict:
        _save(admin_client, base_url=strict.base_url, model="scripted-model")
        refused = admin_client.post("/admin/model/test")
        assert refused.status_code == 200 and b"refused the key (HTTP 401)" in refused.content
        assert KEY.encode() not in refused.content

    # Nowhere else either: the admin's pages and the JSON API.
    for url in ("/admin/", "/admin/telemetry/", "/healthz", "/api/me", "/api/sessions", "/"):
        assert KEY.encode() not in admin_client.get(url).content, url
    assert KEY not in caplog.text
    assert "model settings were changed by root-admin" in caplog.text


def test_removing_the_key_and_a_key_that_no_longer_opens(admin_client, admin, settings):
    _save(admin_client, base_url="https://api.example.org/v1", api_key=KEY, model="m")
    assert selectors.model_config().key_set
    _save(admin_client, base_url="https://api.example.org/v1", model="m", clear_key="1")
    assert not selectors.model_config().key_set

    _save(admin_client, base_url="https://api.example.org/v1", api_key=KEY, model="m")
    settings.SECRET_KEY = "another-secret-key-than-the-one-it-was-sealed-with"
    config = selectors.model_config()
    assert not config.key_set and config.key_unreadable
    admin_client.force_login(admin)  # the session was signed with the old key too
    assert b"no longer opens" in admin_client.get("/admin/model/").content


@pytest.mark.parametrize("url,says", [
    ("ftp://models.example.org/v1", "http:// or https://"),
    ("javascript:alert(1)", "http:// or https://"),
    ("http://user:secret@models.example.org/v1", "not in the URL"),
    ("http://models.example.org:99999/v1", "not a URL"),
    ("http://models example.org/v1", "spaces"),
    ("https://" + "a" * 600 + ".org/v1", "longer than 500"),
    ("http:///v1", "needs a host"),
])
def test_an_unusable_endpoint_is_refused_and_nothing_is_stored(admin_client, url, says):
    answer = _save(admin_client, base_url=url, api_key=KEY, model="m")
    assert answer.status_code == 422
    assert says in answer.content.decode()
    assert KEY.encode() not in answer.content  # the key typed is not sent back either
    assert not ModelSettings.objects.exists()


def test_mgx_own_services_are_not_model_endpoints(admin_client, settings):
    redis_port = settings.MGX_REDIS_URL.rsplit(":", 1)[1].split("/")[0]
    for url in (f"http://127.0.0.1:{redis_port}/v1", f"http://localhost:{settings.MGX_INTERNAL_PORT}/v1",
                f"http://host.docker.internal:{settings.MGX_APPS_MONGO_PORT}/v1"):
        answer = _save(admin_client, base_url=url, model="m")
        assert answer.status_code == 422 and "MGX&#x27;s own" in answer.content.decode(), url
    assert not ModelSettings.objects.exists()
    # A model server of the admin's own on this machine is fine.
    assert _save(admin_client, base_url="http://127.0.0.1:11434/v1", model="m").status_code == 302


def test_model_names_are_checked(admin_client):
    assert _save(admin_client, base_url="http://127.0.0.1:11434/v1", model="gpt 4").status_code == 422
    answer = _save(admin_client, base_url="http://127.0.0.1:11434/v1", model="m", model_qa="qa model; rm -rf")
    assert answer.status_code == 422 and b"no spaces" in answer.content
    assert not ModelSettings.objects.exists()


def test_the_environment_wins_and_the_page_says_so(admin_client, settings):
    settings.MGX_LLM_MODEL = "env-model"
    settings.MGX_LLM_API_KEY = "sk-from-the-environment"
    _save(admin_client, base_url="http://127.0.0.1:11434/v1", api_key=KEY, model="page-model")
    config = selectors.model_config()
    assert config.model == "env-model" and config.api_key == "sk-from-the-environment"
    assert config.base_url == "http://127.0.0.1:11434/v1"  # not set in the environment: the page's
    assert config.sources == {**config.sources, "model": "environment", "api_key": "environment", "base_url": "admin"}
    page = admin_client.get("/admin/model/").content.decode()
    assert "Set in MGX's environment, which wins" in page and "MGX_LLM_MODEL</code>" in page
    assert 'value="env-model" disabled' in page
    assert "sk-from-the-environment" not in page and KEY not in page
    assert ModelSettings.objects.get().api_key_sealed == ""  # a key the environment sets is not taken from the form


def test_only_mgx_admins_see_or_change_the_model(client, user_factory):
    client.force_login(user_factory(username="plain"))
    assert client.get("/admin/model/").status_code == 403
    assert "Only MGX admins" in client.get("/admin/model/").content.decode()
    assert _save(client, base_url="http://127.0.0.1:11434/v1", api_key=KEY).status_code == 403
    assert client.post("/admin/model/test").status_code == 403
    assert not ModelSettings.objects.exists()
    assert b'href="/admin/model/"' not in client.get("/").content  # no link in the top bar either
    client.logout()
    assert client.get("/admin/model/").status_code == 302  # to the login page


def test_the_chat_refuses_a_message_until_a_model_is_configured(client, app_factory, user_factory):
    owner = user_factory(username="chatter")
    app = app_factory(owner=owner, name="No Model Yet")
    client.force_login(owner)
    refused = client.post(f"/sessions/{app.slug}/agent/messages", {"text": "Build it"})
    assert refused.status_code == 409 and "An MGX admin sets it" in refused.json()["error"]
    chat = client.get(f"/sessions/{app.slug}/?tab=chat").content.decode()
    assert "No model endpoint is configured" in chat and "restart" not in chat.lower()
    assert 'id="chat-send-btn" disabled' in chat


# ---------------------------------------------------------------- the Test's answers, one by one

def test_the_test_names_what_went_wrong():
    with ScriptedLLM([reply("ready")], known_models=("small",)) as llm:
        ok = endpoint_check(base_url=llm.base_url, api_key="", model="small")
        assert ok.ok and ok.answer == "ready" and ok.model == "small"
        unknown = endpoint_check(base_url=llm.base_url, api_key="", model="huge")
        assert not unknown.ok and "does not know the model 'huge' (HTTP 404)" in unknown.message
        wrong_path = endpoint_check(base_url=llm.base_url.removesuffix("/v1"), api_key="", model="small")
        assert not wrong_path.ok and "(HTTP 404)" in wrong_path.message and "/v1" in wrong_path.message

    nobody = endpoint_check(base_url=f"http://127.0.0.1:{_free_port()}/v1", api_key="", model="m")
    assert not nobody.ok and "Nothing listens at 127.0.0.1" in nobody.message and "connection refused" in nobody.message

    unknown_host = endpoint_check(base_url="http://no-such-host.invalid/v1", api_key="", model="m")
    assert not unknown_host.ok and "does not resolve" in unknown_host.message


def test_a_model_that_never_answers_is_a_timeout():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # accepts, never answers
        hung = endpoint_check(base_url=f"http://127.0.0.1:{listener.getsockname()[1]}/v1", api_key="", model="m",
                              timeout=1)
    assert not hung.ok and "(timeout)" in hung.message


def test_a_redirect_is_reported_not_followed():
    with ScriptedLLM([reply("ready")], redirect_to="http://127.0.0.1:6379/") as llm:
        moved = endpoint_check(base_url=llm.base_url, api_key="", model="m")
    assert not moved.ok and "does not follow it" in moved.message and moved.status == 307
    assert llm.requests == []  # one call, to the endpoint only: nothing reached a script


@contextlib.contextmanager
def _llm_off_own_ports(script, host):
    """A scripted model server on `host` whose port is none of MGX's own services' (the save
    rightly refuses those): the ephemeral port the kernel hands out may equal a configured one."""
    from agents.services import _own_services

    while True:
        llm = ScriptedLLM(script, host=host).start()
        if llm.port not in _own_services():
            break
        llm.stop()
    try:
        yield llm
    finally:
        llm.stop()


def test_the_test_calls_host_docker_internal_at_the_bridge_address(admin_client, settings):
    with _llm_off_own_ports([reply("ready")], settings.MGX_INTERNAL_HOST) as llm:
        saved = _save(admin_client, base_url=f"http://host.docker.internal:{llm.port}/v1", model="scripted-model")
        assert saved.status_code == 302, saved.content.decode()
        tested = admin_client.post("/admin/model/test")
    assert b"It works" in tested.content, tested.content.decode()
    assert json.dumps(llm.requests[0]["messages"][0]["content"]) == '"Reply with the single word: ready"'
