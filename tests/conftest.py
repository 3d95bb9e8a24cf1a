"""Fixtures of the cross-app tests."""
import pytest

from .upstream import Upstream


@pytest.fixture
def upstream():
    """A real HTTP/websocket server standing in for an app container behind the gateway."""
    server = Upstream().start()
    yield server
    server.stop()
