"""Every state change announces itself (write, then send): what the Database tab, the Users tab
and the Traces tab change, and the telemetry an app sends, reach the app's group, so an open
session page (and anyone else watching the app) hears of it, as it already did for dev servers,
builds, releases, files and runs."""
import pytest

from accounts.services import app_member_create, app_member_password_reset, app_member_set_active
from accounts.services.oauth_clients import app_client_secret_rotate, app_self_signup_set
from databases import services as database
from databases.provisioning import app_database_ensure
from observability import services as telemetry
from observability.tests.otlp_clients import json_body, make_trace
from tests.heard import listening

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def app(app_factory, user_factory):
    made = app_factory(owner=user_factory(username="heeding"), name="Heeded App")
    app_database_ensure(app=made)
    return made


def test_database_changes_are_announced(app):
    with listening(app.slug) as heard:
        database.collection_create(app=app, name="notes")
        assert heard.next("database.changed") == {"action": "collection_created", "collection": "notes"}
        made = database.document_insert(app=app, collection="notes", document={"text": "hi"})
        assert heard.next("database.changed") == {"action": "document_inserted", "collection": "notes"}
        database.document_delete(app=app, collection="notes", document_id=made)
        assert heard.next("database.changed") == {"action": "document_deleted", "collection": "notes"}
        database.collection_drop(app=app, name="notes", confirm="notes")
        assert heard.next("database.changed") == {"action": "collection_dropped", "collection": "notes"}
        # A refused change changes nothing and says nothing.
        with pytest.raises(Exception):
            database.collection_drop(app=app, name="notes", confirm="not the name")
        assert "database.changed" not in heard.kinds()


def test_app_users_and_client_changes_are_announced(app):
    with listening(app.slug) as heard:
        member, _password = app_member_create(app=app, username="carol")
        assert heard.next("members.changed") == {"action": "member_created", "username": "carol"}
        app_member_set_active(member=member, active=False)
        assert heard.next("members.changed") == {"action": "member_deactivated", "username": "carol"}
        app_member_password_reset(member=member)
        assert heard.next("members.changed") == {"action": "password_reset", "username": "carol"}
        app_client_secret_rotate(app=app)
        assert heard.next("members.changed") == {"action": "client_secret_rotated", "username": ""}
        app_self_signup_set(app=app, enabled=True)
        assert heard.next("members.changed") == {"action": "self_signup_on", "username": ""}


def test_telemetry_and_its_settings_are_announced(app):
    with listening(app.slug) as heard:
        spans, _trace = make_trace(app.slug)
        stored = telemetry.ingest(kind="traces", body=json_body(spans=spans), content_type="application/json",
                                  content_encoding="", authorization=f"Bearer {telemetry.app_ingest_token(app=app)}")
        assert heard.next("telemetry.received") == {"spans": stored, "logs": 0}
        telemetry.retention_set(app=app, days=3)
        assert heard.next("telemetry.settings") == {"action": "retention_set"}
        telemetry.ingest_token_rotate(app=app)
        assert heard.next("telemetry.settings") == {"action": "token_rotated"}
