"""What an app's containers are told (the template contract), and the app's own database on the
apps' MongoDB store: made with its users index when the app first runs, gone with the app."""
import pymongo
import pymongo.errors
import pytest
from django.conf import settings

from databases.models import AppDatabase
from deployments.environment import app_environment
from studio.services import app_delete

pytestmark = pytest.mark.django_db

CONTRACT = {
    "MGX_BASE_PATH", "MGX_APP_SLUG", "MGX_APPS_URL", "MGX_OAUTH_CLIENT_ID", "MGX_OAUTH_CLIENT_SECRET",
    "MGX_OAUTH_ISSUER", "MGX_OAUTH_AUTHORIZE_URL", "MGX_OAUTH_LOGOUT_URL", "MGX_OAUTH_TOKEN_URL",
    "MGX_OAUTH_JWKS_URL", "MGX_OAUTH_USERINFO_URL", "MGX_OAUTH_DISCOVERY_URL", "MGX_SESSION_SECRET",
    "MONGODB_URL", "MONGODB_DB", "OTEL_SERVICE_NAME",
}


@pytest.fixture
def apps_store():
    with pymongo.MongoClient(settings.MGX_APPS_MONGO_URL, serverSelectionTimeoutMS=5000) as client:
        yield client


def test_a_dev_container_gets_the_whole_contract_with_machine_urls_inside_and_browser_urls_public(app_factory):
    app = app_factory(name="Shop")
    env = app_environment(app=app, stage="dev")
    assert CONTRACT <= set(env)
    assert env["MGX_BASE_PATH"] == "/apps/shop/dev" and env["OTEL_SERVICE_NAME"] == "shop"
    assert env["MONGODB_DB"] == "app_shop"
    assert env["MGX_OAUTH_ISSUER"] == settings.MGX_OAUTH_ISSUER
    # The browser goes to the authorize page; the container calls the token endpoint inside.
    assert env["MGX_OAUTH_AUTHORIZE_URL"].startswith(settings.MGX_PUBLIC_URL)
    internal = f"http://host.docker.internal:{settings.MGX_INTERNAL_PORT}/"
    for machine in ("MGX_OAUTH_TOKEN_URL", "MGX_OAUTH_JWKS_URL", "MGX_OAUTH_USERINFO_URL", "MGX_OAUTH_DISCOVERY_URL"):
        assert env[machine].startswith(internal), machine
    assert app_environment(app=app, stage="prod")["MGX_BASE_PATH"] == "/apps/shop/prod"
    with pytest.raises(ValueError):
        app_environment(app=app, stage="../admin")


def test_each_app_has_its_own_secrets_and_they_survive_a_restart(app_factory, settings):
    settings.MGX_APPS_OTLP_ENDPOINT = "http://collector.example:4318/"
    one, two = app_factory(name="One"), app_factory(name="Two")
    first, again, other = (app_environment(app=one, stage="dev"), app_environment(app=one, stage="dev"),
                           app_environment(app=two, stage="dev"))
    for secret in ("MGX_SESSION_SECRET", "MGX_OAUTH_CLIENT_SECRET", "OTEL_EXPORTER_OTLP_HEADERS"):
        assert first[secret] == again[secret] and first[secret] != other[secret], secret
    assert first["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector.example:4318"
    assert first["OTEL_EXPORTER_OTLP_HEADERS"].startswith("authorization=Bearer mgxi_")
    assert settings.SECRET_KEY not in " ".join(first.values())


def test_without_a_collector_the_app_sends_to_mgxs_own_receiver(app_factory, settings):
    settings.MGX_APPS_OTLP_ENDPOINT = ""
    app = app_factory(name="Quiet")
    env = app_environment(app=app, stage="dev")
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://host.docker.internal:{settings.MGX_INTERNAL_PORT}/otlp"
    assert env["OTEL_EXPORTER_OTLP_HEADERS"].endswith(f",x-mgx-stage=dev,x-mgx-app={app.slug}")
    # The stage header tells the Traces tab a dev server's spans from production's.
    assert ",x-mgx-stage=prod," in app_environment(app=app, stage="prod")["OTEL_EXPORTER_OTLP_HEADERS"]


def test_a_rotated_ingest_token_reaches_the_next_container(app_factory):
    from observability.services import ingest_token_rotate

    app = app_factory(name="Rotating")
    before = app_environment(app=app, stage="dev")["OTEL_EXPORTER_OTLP_HEADERS"]
    ingest_token_rotate(app=app)
    after = app_environment(app=app, stage="dev")["OTEL_EXPORTER_OTLP_HEADERS"]
    assert before != after and after.startswith("authorization=Bearer mgxi_")


def test_the_app_database_is_made_with_a_unique_users_index_and_recorded(app_factory, apps_store):
    app = app_factory(name="Ledger")
    app_environment(app=app, stage="dev")
    row = AppDatabase.objects.get(app=app)
    assert row.name == "app_ledger" and row.provisioned_at is not None
    users = apps_store["app_ledger"]["users"]
    users.insert_one({"sub": "42", "username": "ann"})
    with pytest.raises(pymongo.errors.DuplicateKeyError):
        users.insert_one({"sub": "42", "username": "someone else"})
    app_environment(app=app, stage="prod")  # again: idempotent, one row
    assert AppDatabase.objects.filter(app=app).count() == 1


def test_a_deleted_app_takes_its_database_along_so_a_new_app_of_that_name_starts_empty(app_factory, apps_store):
    app = app_factory(name="Diary")
    app_environment(app=app, stage="dev")
    apps_store["app_diary"]["users"].insert_one({"sub": "7", "username": "old owner's user"})
    apps_store["app_diary"]["entries"].insert_one({"text": "private"})
    app_delete(app=app)
    assert "app_diary" not in apps_store.list_database_names()
    again = app_factory(name="Diary", owner=app.owner)
    app_environment(app=again, stage="dev")
    assert apps_store["app_diary"]["users"].count_documents({}) == 0
    assert apps_store["app_diary"]["entries"].count_documents({}) == 0


def test_the_apps_store_being_down_keeps_the_app_and_says_why(app_factory, settings):
    app = app_factory(name="Kept")
    settings.MGX_APPS_MONGO_URL = "mongodb://127.0.0.1:9/"
    settings.MGX_MONGO_TIMEOUT_MS = 300
    env = app_environment(app=app, stage="dev")  # the app still starts; its login will say so
    assert env["MONGODB_DB"] == "app_kept" and AppDatabase.objects.get(app=app).provisioned_at is None
    from studio.services import AppDeleteError
    with pytest.raises(AppDeleteError, match="database server did not answer"):
        app_delete(app=app)
    assert type(app).objects.filter(slug="kept").exists()


def test_on_an_authenticating_store_the_app_connects_as_its_own_user(app_factory, settings):
    """MGX_APPS_MONGO_AUTH: the app's MONGODB_URL names its own user and database, with none of
    the credentials MGX itself connects with (the user is made where the store supports users:
    databases/tests/test_isolation.py)."""
    settings.MGX_APPS_MONGO_AUTH = True
    settings.MGX_APPS_MONGO_URL_FOR_APPS = "mongodb://root:rootpw@mongo:27017/admin"
    env = app_environment(app=app_factory(name="Vault"), stage="prod")
    assert env["MONGODB_URL"].startswith("mongodb://app_vault:") and env["MONGODB_URL"].endswith("@mongo:27017/app_vault?authSource=app_vault")
    assert "rootpw" not in env["MONGODB_URL"] and "root:" not in env["MONGODB_URL"]
    other = app_environment(app=app_factory(name="Other"), stage="prod")
    assert other["MONGODB_URL"].split("@")[0] != env["MONGODB_URL"].split("@")[0]
