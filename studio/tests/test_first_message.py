"""The description typed on "New app" is the person's first message to the team: the chat's
event store holds it as a USER_MESSAGE and a run of the team is queued for it, whichever way the
app was made (the page, the JSON API, `manage.py app_create`)."""
import json
from io import StringIO

import pytest
from django.core.management import call_command

from agents.documents import AgentEvent, AgentRun, EventCounter
from sessions_app.models import App
from studio.services import app_create

pytestmark = pytest.mark.django_db

WISH = "A shared todo list for my team: log in, add tasks, assign them, mark them done."


PUBLISHED: list[dict] = []


@pytest.fixture(autouse=True)
def published_tasks():
    """What this process handed to the Celery broker (task name and arguments), recorded as it
    is published: a live worker of another test may take it off the queue at once."""
    from celery.signals import after_task_publish

    def record(sender=None, headers=None, **_kwargs):
        PUBLISHED.append({"task": sender, "args": (headers or {}).get("argsrepr", "")})

    PUBLISHED.clear()
    after_task_publish.connect(record, weak=False)
    yield PUBLISHED
    after_task_publish.disconnect(record)


def assert_first_message(slug: str, owner: str, text: str = WISH):
    messages = [e.payload for e in AgentEvent.objects(session=slug, type="USER_MESSAGE")]
    assert messages == [{"text": text, "user": owner}]
    runs = list(AgentRun.objects(session=slug))
    # Queued: handed to the broker (a live worker may already have taken it, so not its status).
    assert [(r.input, r.user) for r in runs] == [(text, owner)]
    assert {"task": "agents.run", "args": repr((runs[0].run_id,))} in PUBLISHED
    event = AgentEvent.objects(session=slug, type="USER_MESSAGE").first()
    assert event.run == runs[0].run_id


@pytest.fixture(autouse=True)
def _forget_runs():
    """The queued runs stay in the broker after the test; without their records (and their
    app) a worker that picks one up later ends it at once instead of starting a container."""
    yield
    slugs = ["team-todo", "quiet", "page-todo", "api-todo", "cli-todo"]
    for document in (AgentRun, AgentEvent, EventCounter):
        document.objects(session__in=slugs).delete()


def test_a_description_becomes_the_first_message_and_starts_a_run(user_factory, django_capture_on_commit_callbacks):
    owner = user_factory(username="maker")

    with django_capture_on_commit_callbacks(execute=True):
        app = app_create(owner=owner, name="Team Todo", framework="nextjs", description=f"  {WISH}\n")
        # Nothing before the app is committed: the run must find it.
        assert AgentEvent.objects(session=app.slug).count() == 0

    assert_first_message(app.slug, "maker")


def test_without_a_description_the_chat_stays_empty(user_factory, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        app = app_create(owner=user_factory(username="maker"), name="Quiet", framework="nextjs", description="  ")

    assert AgentEvent.objects(session=app.slug).count() == 0 and AgentRun.objects(session=app.slug).count() == 0


def test_a_refused_app_sends_nothing(user_factory, django_capture_on_commit_callbacks):
    from django.core.exceptions import ValidationError

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        app_create(owner=user_factory(username="maker"), name="Bad", framework="rails", description=WISH)

    assert AgentRun.objects(input=WISH).count() == 0


def test_the_new_app_page_sends_the_description(client, user_factory, django_capture_on_commit_callbacks):
    client.force_login(user_factory(username="maker"))

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post("/sessions/new/", {"name": "Page Todo", "framework": "nextjs", "description": WISH})

    assert done.status_code == 302 and done["Location"] == "/sessions/page-todo/"
    assert_first_message("page-todo", "maker")


def test_the_api_sends_the_description(client, user_factory, django_capture_on_commit_callbacks):
    client.force_login(user_factory(username="maker"))

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post("/api/sessions", json.dumps({"name": "Api Todo", "framework": "nextjs", "description": WISH}),
                           content_type="application/json")

    assert done.status_code == 201, done.content
    assert_first_message("api-todo", "maker")


def test_the_app_create_command_sends_the_description(user_factory, django_capture_on_commit_callbacks):
    user_factory(username="maker")
    out = StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("app_create", "--owner", "maker", "--name", "Cli Todo", "--framework", "nextjs",
                     "--description", WISH, stdout=out)

    assert "first message" in out.getvalue()
    assert App.objects.filter(slug="cli-todo").exists()
    assert_first_message("cli-todo", "maker")
