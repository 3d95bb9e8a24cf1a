"""Creating sessions (= apps): slug rules, the workspace it gets, and the JSON API."""
import json

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from sessions_app.models import App
from studio.services import app_create
from workspaces.git import git_dir
from workspaces.selectors import file_read, history_list
from workspaces.services import workspace_for

pytestmark = pytest.mark.django_db


def test_the_slug_is_made_from_the_name_and_the_workspace_from_the_template(user_factory):
    owner = user_factory()
    app = app_create(owner=owner, name="My Shop!", framework="fastapi_vite", description="Sells socks")

    assert app.slug == "my-shop"
    assert app_create(owner=owner, name="snake_case -- App", framework="nextjs").slug == "snake-case-app"
    assert "My Shop!" in file_read(app=app, path="backend/app/main.py").text
    assert [c.message for c in history_list(app=app)] == ["Create My Shop! from the FastAPI + React/Vite template"]
    # Its history lives outside the workspace, where no container reaches.
    assert git_dir(workspace_for(app).root).is_dir() and not (workspace_for(app).root / ".git").exists()
    # Its users log in through MGX: the app's own OAuth2 client exists from the start.
    from accounts.selectors import app_callback_urls, app_client_get

    client = app_client_get(app=app)
    assert client is not None and client.application.redirect_uris.split() == app_callback_urls(app=app)


@pytest.mark.parametrize(
    "slug, message",
    [
        ("api", "reserved"),
        ("static", "reserved"),
        ("admin", "reserved"),
        ("ab", "3–40 characters"),
        ("x" * 41, "3–40 characters"),
        ("under_score", "3–40 characters"),
        ("-dash", "3–40 characters"),
        ("two--dashes", "3–40 characters"),
        ("spa ce", "3–40 characters"),
        ("../etc", "3–40 characters"),
    ],
)
def test_bad_or_reserved_slugs_are_refused_with_a_clear_message_and_nothing_is_created(user_factory, settings, slug, message):
    with pytest.raises(ValidationError) as refused:
        app_create(owner=user_factory(), name="Anything", framework="nextjs", slug=slug)
    assert message in " ".join(refused.value.message_dict["slug"])
    assert App.objects.count() == 0


def test_a_taken_slug_is_refused(user_factory):
    app_create(owner=user_factory(username="first"), name="Todo", framework="nextjs")
    with pytest.raises(ValidationError) as refused:
        app_create(owner=user_factory(username="second"), name="Todo", framework="nextjs")
    assert "taken" in refused.value.message_dict["slug"][0]
    assert App.objects.count() == 1


def test_unknown_framework_and_missing_name_are_reported_together(user_factory):
    with pytest.raises(ValidationError) as refused:
        app_create(owner=user_factory(), name="", framework="rails", slug="fine-slug")
    assert set(refused.value.message_dict) == {"name", "framework"}


def test_a_workspace_left_on_disk_is_never_overwritten(user_factory, settings, tmp_path):
    leftover = workspace_for(App(slug="old-app"))
    leftover.root.mkdir(parents=True)
    (leftover.root / "precious.txt").write_text("keep me")
    with pytest.raises(ValidationError) as refused:
        app_create(owner=user_factory(), name="Old App", framework="nextjs")
    assert "still on disk" in refused.value.message_dict["slug"][0]
    assert (leftover.root / "precious.txt").read_text() == "keep me"


def test_api_creates_lists_and_shows_sessions(client, user_factory):
    owner = user_factory()
    client.force_login(owner)

    created = client.post("/api/sessions", json.dumps({"name": "Blog", "framework": "nextjs", "description": "posts"}),
                          content_type="application/json")
    assert created.status_code == 201
    assert created.json()["slug"] == "blog" and created.json()["dev_url"] == f"{settings.MGX_APPS_URL}/apps/blog/dev/"
    assert created.json()["last_change"]["message"] == "Create Blog from the Next.js template"

    shown = client.get("/api/sessions/blog")
    assert shown.status_code == 200 and shown.json()["owner"] == owner.username
    assert [s["slug"] for s in client.get("/api/sessions").json()["sessions"]] == ["blog"]


def test_api_refuses_bad_input_with_field_errors(client, user_factory):
    client.force_login(user_factory())
    bad = client.post("/api/sessions", json.dumps({"name": "x", "framework": "nextjs", "slug": "api"}), content_type="application/json")
    assert bad.status_code == 400 and "reserved" in bad.json()["error"]["fields"]["slug"][0]
    garbage = client.post("/api/sessions", "{not json", content_type="application/json")
    assert garbage.status_code == 400 and "JSON" in garbage.json()["error"]["message"]
    assert App.objects.count() == 0


def test_dashboard_lists_apps_newest_first_and_the_form_keeps_input_on_error(client, user_factory):
    owner = user_factory()
    client.force_login(owner)
    app_create(owner=owner, name="Older", framework="nextjs")
    app_create(owner=owner, name="Newer", framework="fastapi_vite")
    page = client.get("/").content.decode()
    assert page.index("Newer") < page.index("Older")
    assert page.count("Dev: Stopped") == 2

    refused = client.post("/sessions/new/", {"name": "Kept Name", "slug": "api", "framework": "nextjs", "description": "kept words"})
    assert refused.status_code == 422
    body = refused.content.decode()
    assert "reserved by MGX" in body and 'value="Kept Name"' in body and "kept words" in body

    made = client.post("/sessions/new/", {"name": "Fresh", "slug": "", "framework": "nextjs", "description": ""})
    assert made.status_code == 302 and made["Location"] == "/sessions/fresh/"
    users_tab = client.get("/sessions/fresh/?tab=users").content.decode()
    assert 'id="app-users"' in users_tab and "/apps/fresh/dev/auth/callback" in users_tab


def test_a_taken_address_is_refused_with_a_free_one_suggested(app_factory, user_factory):
    owner = user_factory(username="suggested")
    app_factory(owner=owner, name="Shop", slug="shop")
    with pytest.raises(ValidationError) as refused:
        app_create(owner=owner, name="Another shop", framework="nextjs", slug="shop")
    assert "“shop” is taken" in refused.value.message_dict["slug"][0]
    assert "such as “shop-2”" in refused.value.message_dict["slug"][0]
    assert App.objects.filter(owner=owner).count() == 1


def test_the_delete_dialog_says_what_goes_with_the_app(client, app_factory, user_factory):
    from databases.provisioning import app_database_ensure
    from databases.services import collection_create, document_insert
    from deployments.models import Build, Release

    owner = user_factory(username="dropper")
    app = app_factory(owner=owner, name="Going Soon")
    app_database_ensure(app=app)
    collection_create(app=app, name="orders")
    document_insert(app=app, collection="orders", document={"total": 3})
    build = Build.objects.create(app=app, number=1, commit="c" * 40, status="succeeded")
    Release.objects.create(app=app, build=build, number=1, status="live")
    client.force_login(owner)
    said = client.get(f"/sessions/{app.slug}/delete-preview").content.decode()
    assert f"/apps/{app.slug}/prod/" in said and "goes offline" in said
    assert f"app_{app.slug}" in said and "2 collections" in said and "1 document" in said  # users (its index) and orders
    assert "Its 1 user can no longer log in" in said  # the owner, a member of their own app
    page = client.get(f"/sessions/{app.slug}/?tab=files").content.decode()
    assert "delete-preview" in page and "toggle once" in page  # loaded when the dialog opens
