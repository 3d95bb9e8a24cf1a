"""Issue 27, the model without a restart, in Chromium at 1440×900: an admin opens the Model page
from the top bar, sets the endpoint, a write-only key and the model, and the Test calls the
scripted model server and shows its answer, or says why a wrong URL does not answer; a person who
is not an admin sees who sets the model, with Send off, and gets 403 on the page. The key reaches
neither the page nor the services' logs nor MGX's own telemetry. Screenshots are kept under
var/test-artifacts/issue-27/ (MGX_TEST_ARTIFACTS moves them)."""
import socket
from pathlib import Path

import pytest
from playwright.sync_api import expect

from agents.testing import ScriptedLLM, reply
from observability.documents import MGX_APP, spans
from tests.artifacts import shots_folder

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "sk-browser-only-7c2f9a41d3e8"


def artifacts() -> Path:
    return shots_folder("issue-27")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_admin_sets_the_model_tests_it_and_a_wrong_url_says_why(live, wide, browser_login, user_factory):
    page = wide
    admin = user_factory(username="modeladmin", is_staff=True, is_superuser=True)
    browser_login(page, admin)
    page.click("nav.mainnav a:has-text('Model')")
    page.wait_for_url(f"{live.url}/admin/model/")
    expect(page.locator("#model-state")).to_have_text("no model configured")
    expect(page.locator("#model-test")).to_be_disabled()

    with ScriptedLLM([reply("ready")], api_key=KEY, repeat_last=True) as llm:
        page.fill("input[name=base_url]", llm.base_url)
        page.fill("input[name=api_key]", KEY)
        page.fill("input[name=model]", "scripted-model")
        page.click("#model-save")
        page.locator(".flash-success", has_text="no restart needed").wait_for()
        expect(page.locator("#model-state")).to_have_text("configured")
        expect(page.locator("#key-state")).to_have_text("set")
        assert page.input_value("input[name=api_key]") == ""  # write-only: never filled in again

        page.click("#model-test")
        answer = page.locator("#model-test-result .model-test-ok")
        answer.wait_for()
        assert "It works" in answer.inner_text() and "ready" in answer.inner_text()
        assert llm.authorizations == [f"Bearer {KEY}"]  # one call, with the key
        assert KEY not in page.content()
        page.screenshot(path=str(artifacts() / "model-page.png"))

    # A wrong URL: nothing listens there. The key stays as it was (the field was left empty).
    page.fill("input[name=base_url]", f"http://127.0.0.1:{_free_port()}/v1")
    page.click("#model-save")
    page.locator(".flash-success").wait_for()
    expect(page.locator("#key-state")).to_have_text("set")
    page.click("#model-test")
    error = page.locator("#model-test-result .model-test-error")
    error.wait_for()
    assert "Nothing listens at 127.0.0.1" in error.inner_text() and "connection refused" in error.inner_text()
    page.screenshot(path=str(artifacts() / "model-page-test-error.png"))

    # A URL that is not one is refused on the form, saying why.
    page.fill("input[name=base_url]", "ftp://models.example.org/v1")
    page.click("#model-save")
    assert "http:// or https://" in page.locator(".field.has-error .field-error").inner_text()

    assert KEY not in page.content()
    for name in ("daphne", "celery"):
        log = Path(live.layout.logfile(live.stack[name].name)).read_text(errors="replace")
        assert KEY not in log, f"the key is in {name}'s log"
    assert KEY not in str(list(spans().find({"app": MGX_APP}, {"_id": 0})))  # nor in MGX's own telemetry


def test_someone_not_an_admin_sees_who_sets_the_model_and_send_is_off(live, wide, browser_login, user_factory,
                                                                     app_factory):
    page = wide
    owner = user_factory(username="nomodel")
    app = app_factory(owner=owner, name="Waits For Model")
    browser_login(page, owner)
    assert page.locator("nav.mainnav a:has-text('Model')").count() == 0
    page.goto(f"{live.url}/sessions/{app.slug}/")
    page.wait_for_selector("#chat-conn[data-state='live']")
    notice = page.locator(".chat-nollm").inner_text()
    assert "No model endpoint is configured" in notice and "An MGX admin sets it" in notice and ".env" in notice
    assert "restart" not in notice.lower()
    expect(page.locator("#chat-send-btn")).to_be_visible()
    expect(page.locator("#chat-send-btn")).to_be_disabled()
    expect(page.locator("#chat-text")).to_be_disabled()
    assert "an MGX admin sets it" in page.get_attribute("#chat-text", "placeholder")
    page.screenshot(path=str(artifacts() / "chat-without-a-model.png"))

    refused = page.goto(f"{live.url}/admin/model/")
    assert refused.status == 403 and "Only MGX admins" in page.inner_text("main")
