"""Fixtures of the cross-app tests."""
import pytest

from .upstream import Upstream


@pytest.fixture
def upstream():
    """A real HTTP/websocket server standing in for an app container behind the gateway."""
    server = Upstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def otlp_receiver():
    """Records the telemetry apps send to MGX_APPS_OTLP_ENDPOINT (see tests/otlp.py)."""
    import os

    from django.conf import settings

    from .otlp import OtlpReceiver

    receiver = OtlpReceiver(host=os.environ["MGX_INTERNAL_HOST"], endpoint=settings.MGX_APPS_OTLP_ENDPOINT)
    yield receiver
    receiver.stop()
