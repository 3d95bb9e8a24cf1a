"""The Dev tab's buttons are forms: without JavaScript a plain POST does the same as the
hx-post and comes back to the Dev tab, saying what went wrong when something did."""
import pytest
from django.contrib.messages import get_messages

from deployments import services
from deployments.models import DevEnvironment

pytestmark = pytest.mark.django_db


@pytest.fixture
def engine_gone(settings, tmp_path):
    from containers.docker_client import _client

    settings.MGX_DOCKER_HOST = f"unix://{tmp_path}/gone.sock"
    _client.cache_clear()
    yield
    _client.cache_clear()


def test_a_plain_post_comes_back_to_the_dev_tab_with_the_reason(client, app_factory, engine_gone):
    app = app_factory(name="No Js")
    client.force_login(app.owner)
    answer = client.post(f"/sessions/{app.slug}/dev/start")
    assert answer.status_code == 302 and answer["Location"] == f"/sessions/{app.slug}/?tab=dev"
    said = [str(m) for m in get_messages(answer.wsgi_request)]
    assert len(said) == 1 and said[0].startswith("The Docker engine does not answer")
    assert not DevEnvironment.objects.filter(app=app).exclude(phase=DevEnvironment.Phase.STOPPED).exists()


def test_the_dev_panel_buttons_work_without_javascript(client, app_factory):
    app = app_factory(name="Form Buttons")
    client.force_login(app.owner)
    panel = client.get(f"/sessions/{app.slug}/dev/panel").content.decode()
    assert f'<form class="inline-form" method="post" action="/sessions/{app.slug}/dev/start"' in panel


def test_an_unknown_action_is_not_found(client, app_factory):
    app = app_factory(name="Odd Action")
    client.force_login(app.owner)
    assert client.post(f"/sessions/{app.slug}/dev/explode", HTTP_HX_REQUEST="true").status_code == 404


def test_with_the_engine_gone_the_services_say_so_in_their_own_words(app_factory, engine_gone):
    from core.errors import http_status

    app = app_factory(name="Own Words")
    with pytest.raises(services.DevError) as refused:
        services.dev_start(app=app)
    assert http_status(refused.value) == 503  # as the API always answered
    with pytest.raises(services.DevError):
        services.dev_restart(app=app)
    with pytest.raises(services.DevError) as refused:
        services.dev_logs(app=app)
    assert str(refused.value).startswith("The Docker engine does not answer")
