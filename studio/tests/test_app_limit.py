"""Apps per user (MGX_MAX_APPS_PER_USER): at the limit, every way of making an app (the New app
page, the JSON API, `manage.py app_create`, the service) refuses with a message that names the
limit, and nothing is made: no App row, no workspace, no history. Admins are not exempt; other
users are not affected; deleting an app makes room again."""
import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from core.errors import LimitReached
from sessions_app.models import App
from studio.services import app_create, app_delete

pytestmark = pytest.mark.django_db


@pytest.fixture
def limit(settings):
    settings.MGX_MAX_APPS_PER_USER = 2
    return 2


def _apps(owner) -> list[str]:
    return sorted(App.objects.filter(owner=owner).values_list("slug", flat=True))


def _nothing_made(slug: str) -> bool:
    return (not App.objects.filter(slug=slug).exists() and not (Path(settings.MGX_WORKSPACE_ROOT) / slug).exists()
            and not (Path(settings.MGX_GIT_ROOT) / f"{slug}.git").exists())


def test_the_service_refuses_past_the_limit_and_makes_nothing(limit, user_factory):
    owner = user_factory(username="maker")
    app_create(owner=owner, name="One", framework="nextjs")
    app_create(owner=owner, name="Two", framework="nextjs")
    with pytest.raises(LimitReached) as refused:
        app_create(owner=owner, name="Three", framework="nextjs", slug="three-service")
    assert "2 apps" in str(refused.value) and "MGX_MAX_APPS_PER_USER" in str(refused.value)
    assert _apps(owner) == ["one", "two"] and _nothing_made("three-service")
    # Someone else still can.
    assert app_create(owner=user_factory(username="other"), name="Three", framework="nextjs").slug == "three"


def test_admins_are_not_exempt(limit, user_factory):
    admin = user_factory(username="boss", is_staff=True, is_superuser=True)
    for name in ("One", "Two"):
        app_create(owner=admin, name=name, framework="nextjs")
    with pytest.raises(LimitReached):
        app_create(owner=admin, name="Three", framework="nextjs")


def test_the_new_app_page_says_why(limit, client, user_factory):
    owner = user_factory(username="maker")
    for name in ("One", "Two"):
        app_create(owner=owner, name=name, framework="nextjs")
    client.force_login(owner)
    answer = client.post("/sessions/new/", {"name": "Three", "framework": "nextjs", "slug": "three-page"})
    assert answer.status_code == 409
    page = answer.content.decode()
    assert "MGX_MAX_APPS_PER_USER" in page and "fix the fields" not in page
    assert _nothing_made("three-page")


def test_the_api_answers_409_with_the_message(limit, client, user_factory):
    owner = user_factory(username="maker")
    for name in ("One", "Two"):
        app_create(owner=owner, name=name, framework="nextjs")
    client.force_login(owner)
    answer = client.post("/api/sessions", json.dumps({"name": "Three", "framework": "nextjs", "slug": "three-api"}),
                         content_type="application/json")
    assert answer.status_code == 409
    assert "MGX_MAX_APPS_PER_USER" in answer.json()["error"]["message"]
    assert _nothing_made("three-api")


def test_the_command_refuses_in_one_line(limit, user_factory):
    owner = user_factory(username="maker")
    for name in ("One", "Two"):
        app_create(owner=owner, name=name, framework="nextjs")
    with pytest.raises(CommandError) as refused:
        call_command("app_create", "--owner", "maker", "--name", "Three", "--framework", "nextjs", "--slug",
                     "three-cmd", stdout=StringIO())
    message = str(refused.value)
    assert "MGX_MAX_APPS_PER_USER" in message and "nothing was created" in message.lower() and "\n" not in message
    assert _nothing_made("three-cmd")


def test_deleting_an_app_makes_room(limit, user_factory):
    owner = user_factory(username="maker")
    first = app_create(owner=owner, name="One", framework="nextjs")
    app_create(owner=owner, name="Two", framework="nextjs")
    app_delete(app=first)
    assert app_create(owner=owner, name="Three", framework="nextjs").slug == "three"
