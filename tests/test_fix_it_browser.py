"""When the app breaks, MGX says so and the team fixes it (issue 28), in Chromium on the live stack
with the scripted model team, per framework: a deliberate bug breaks the dev preview, the Dev
badge turns red with the error's first lines (naming the file), **Fix it** sends the team MGX's
report (a compact card in the chat), the scripted engineer puts the file right, and the badge
turns green again while the preview renders. Another for a failed build: Fix it from the Prod
tab sends the build's failure. Screenshots go under var/test-artifacts/fix-it/."""
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from agents.testing import reply
from deployments import builds, services
from deployments.models import DevEnvironment
from deployments.tests.test_dev_containers import wait_for_phase
from deployments.tests.test_production import BROKEN_DOCKERFILE, TINY_DOCKERFILE, settled_build
from tests.artifacts import shots_folder
from tests.test_journey_browser import _clear_agent_records, cleanup, llm  # noqa: F401 (fixtures)
from workspaces import selectors as ws_selectors
from workspaces.services import file_write

pytestmark = pytest.mark.django_db(transaction=True)

# The file each template's bug goes into, and what breaks it: a backend that does not start
# (FastAPI behind Vite's proxy: its health path answers 5xx).
BROKEN = {
    "fastapi_vite": ("backend/app/main.py", "app = FastAPI(", "app = FastAPI(((("),
    # Turbopack keeps serving the last good page: the preview's script reports the compile error.
    "nextjs": ("app/page.tsx", "        </main>", "        </main"),
}


def _shots() -> Path:
    return shots_folder("fix-it")


def _run_settled(app, timeout: float = 120) -> None:
    import time

    from agents.documents import AgentRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = AgentRun.objects(session=app.slug).order_by("-created_at").first()
        if run is not None and run.status in ("done", "failed", "cancelled"):
            assert run.status == "done", run.status
            return
        time.sleep(0.5)
    raise AssertionError("the team's run did not end")


def fixing_script(path: str, original: str) -> list:
    """What the scripted team does with an error report: the leader hands it to the engineer, who
    reads the file, writes it back whole, checks MGX's health check and reports; the leader ends."""
    return [
        reply(tool=("assign", {"role": "engineer", "task": "Fix the error in the report."})),
        reply(tool=("read_file", {"path": path})),
        reply(tool=("write_file", {"path": path, "content": original})),
        reply(f"I fixed the syntax error in `{path}`."),
        reply(tool=("finish", {"summary": f"Fixed {path}"})),
    ]


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("framework", list(BROKEN))
def test_a_broken_dev_preview_turns_red_and_fix_it_turns_it_green(framework, live, wide, llm, agent_image,
                                                                    app_factory, user_factory, browser_login, cleanup):
    page = wide
    owner = user_factory(username=f"fixer-{framework[:4]}")
    app = app_factory(owner=owner, name=f"Fix {framework[:4]}", framework=framework)
    cleanup.append(app)
    _clear_agent_records(app.slug)
    path, good, bad = BROKEN[framework]
    original = ws_selectors.file_read(app=app, path=path).text
    assert good in original
    services.dev_start(app=app)
    assert wait_for_phase(app, {"ready", "failed"}, timeout=900).phase == "ready"

    browser_login(page, owner)
    page.goto(f"{live.url}/sessions/{app.slug}/?tab=dev")
    badge = page.locator("#session-badges")
    healthy = DevEnvironment.objects.get(app=app)
    assert healthy.health != "error", f"the untouched template reads as broken: {healthy.error}"
    expect(page.locator("#dev-panel .phase-badge")).to_have_text("Ready")

    # The bug: the Dev badge turns red, with the error's first lines naming the file.
    file_write(app=app, path=path, content=original.replace(good, bad), user=owner)
    try:
        expect(page.locator("#dev-panel .dev-health-error")).to_have_text("Error", timeout=90_000)
    except AssertionError:
        import docker as _docker

        from containers.docker_client import container_name
        logs = _docker.from_env().containers.get(container_name(slug=app.slug, role="dev")).logs(tail=60).decode()
        raise AssertionError(f"not red; the dev server's last lines:\n{logs}") from None
    expect(badge).to_contain_text("Dev: error")
    box = page.locator("#dev-panel .app-error")
    expect(box).to_contain_text("The app is broken")
    assert DevEnvironment.objects.get(app=app).health == "error"
    page.screenshot(path=str(_shots() / f"{framework}-red.png"), full_page=True)
    # The API says the same.
    http = live.login(owner.username, owner.raw_password)
    status = http.get(f"{live.url}/api/apps/{app.slug}/dev/status").json()
    assert status["health"] == "error" and status["error"], status

    # Fix it: MGX's report goes to the team (a card in the chat), the engineer puts the file right.
    llm.add(*fixing_script(path, original))
    box.get_by_role("button", name="Fix it").click()
    page.wait_for_url(re.compile(r".*tab=chat"))
    card = page.locator(".msg-report .report-card")
    expect(card).to_contain_text("Error report: the app in the dev server is broken", timeout=30_000)
    expect(page.locator(".md", has_text=f"I fixed the syntax error in {path}")).to_be_visible(timeout=300_000)
    sent = " ".join(str(r) for r in llm.requests)
    assert "Error report from MGX" in sent and "health check of the dev server says" in sent

    # Green again, and the preview renders.
    page.goto(f"{live.url}/sessions/{app.slug}/?tab=dev")
    expect(page.locator("#dev-panel .phase-badge")).to_have_text("Ready", timeout=120_000)
    expect(badge).not_to_contain_text("error")
    assert DevEnvironment.objects.get(app=app).health == "ok"
    preview = http.get(f"{live.apps_url}/apps/{app.slug}/dev/{'api/healthz' if framework == 'fastapi_vite' else ''}")
    assert preview.status_code == 200
    page.screenshot(path=str(_shots() / f"{framework}-green.png"), full_page=True)


@pytest.mark.timeout(900)
def test_fix_it_on_a_failed_build_sends_the_build_failure(live, wide, llm, agent_image, runtime_image, app_factory,
                                                          user_factory, browser_login, cleanup):
    page = wide
    owner = user_factory(username="buildfixer")
    app = app_factory(owner=owner, name="Build Fix", framework="nextjs")
    cleanup.append(app)
    _clear_agent_records(app.slug)
    file_write(app=app, path="page.html", content="<h1>fixed build</h1>\n", user=owner)
    file_write(app=app, path="Dockerfile", content=BROKEN_DOCKERFILE, user=owner)
    failed = settled_build(builds.build_request(app=app, user=owner))
    assert failed.status == "failed"

    browser_login(page, owner)
    page.goto(f"{live.url}/sessions/{app.slug}/?tab=prod")
    alert = page.locator("#prod-panel .build-failed-alert")
    expect(alert).to_contain_text("Build #1 failed")
    llm.add(*fixing_script("Dockerfile", TINY_DOCKERFILE))
    alert.get_by_role("button", name="Fix it").click()
    page.wait_for_url(re.compile(r".*tab=chat"))
    expect(page.locator(".msg-report .report-card")).to_contain_text("production build #1 failed", timeout=30_000)
    expect(page.locator(".md", has_text="I fixed the syntax error in Dockerfile")).to_be_visible(timeout=300_000)
    sent = " ".join(str(r) for r in llm.requests)
    assert "about to fail" in sent  # the build's own output reached the team
    assert ws_selectors.file_read(app=app, path="Dockerfile").text == TINY_DOCKERFILE
    _run_settled(app)  # the run commits its work as it ends: the next build is of that commit
    rebuilt = settled_build(builds.build_request(app=app, user=owner))
    assert rebuilt.status == "succeeded", rebuilt.message
