"""An app's creation and deletion are announced to its group (`app.created`, `app.deleted`)
with who did it: an open session page of a deleted app can say so."""
import pytest

from studio import services
from tests.heard import listening

pytestmark = pytest.mark.django_db(transaction=True)


def test_creating_an_app_is_announced(user_factory):
    owner = user_factory(username="fay")
    with listening("announced-app") as heard:
        services.app_create(owner=owner, name="Announced App", framework="nextjs", slug="announced-app")
        assert heard.next("app.created") == {"slug": "announced-app", "by": "fay"}


def test_deleting_an_app_from_its_page_is_announced(client, app_factory, user_factory):
    owner = user_factory(username="gil")
    app = app_factory(owner=owner, name="Going Away")
    client.force_login(owner)
    with listening(app.slug) as heard:
        answer = client.post(f"/sessions/{app.slug}/delete", {"confirm": app.slug})
        assert answer.status_code == 302
        assert heard.next("app.deleted", within=60) == {"slug": app.slug, "by": "gil"}
