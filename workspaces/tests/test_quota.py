"""A workspace has a disk quota: a file system of its own (workspaces.quota), so an app that
writes without end fills its own workspace and nobody else's disk, and MGX says why."""
import json
import os

import pytest

from deployments import services as dev
from deployments.models import DevEnvironment
from studio.services import app_delete
from workspaces import quota, selectors, services

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(os.geteuid() != 0, reason="quotas mount file systems: MGX must run as root")]
Phase = DevEnvironment.Phase


@pytest.fixture
def small_quota(settings):
    settings.MGX_WORKSPACE_QUOTA = "40m"


def test_a_full_workspace_refuses_writes_with_a_reason_and_keeps_what_was_there(small_quota, app_factory, client):
    app = app_factory(name="Quota App")
    root = services.workspace_for(app).root
    assert quota.is_mounted(root)
    usage = selectors.workspace_usage(app=app)
    assert 30 * 1024**2 < usage.size <= 40 * 1024**2 and usage.used < usage.size
    # The disk file on the host takes only what the files take.
    assert os.stat(quota.disk_path(slug=app.slug)).st_blocks * 512 < 16 * 1024**2

    before = selectors.file_read(app=app, path="README.md").text
    with open(root / "filler.bin", "wb") as fh:  # what a dev container writing without end does
        with pytest.raises(OSError) as full:
            while True:
                fh.write(b"\0" * 1024 * 1024)
                fh.flush()
                os.fsync(fh.fileno())
    assert full.value.errno == 28  # ENOSPC: the app's own disk, not the host's
    assert selectors.workspace_usage(app=app).full

    client.force_login(app.owner)
    answer = client.put(f"/api/workspaces/{app.slug}/files?path=README.md", json.dumps({"content": "x" * 2_000_000}),
                        content_type="application/json")
    assert answer.status_code == 507, answer.content
    assert "workspace is full" in answer.json()["error"]["message"]
    assert selectors.file_read(app=app, path="README.md").text == before

    app_delete(app=app)
    assert not quota.is_mounted(root) and not quota.disk_path(slug=app.slug).exists()


def test_a_dev_server_on_a_full_workspace_fails_saying_the_workspace_is_full(live, runtime_image, small_quota,
                                                                              app_factory):
    app = app_factory(name="Full Dev", framework="nextjs")
    root = services.workspace_for(app).root
    with open(root / "filler.bin", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 1024 * 1024)
        except OSError:
            pass
    dev.dev_start(app=app)
    from deployments.tests.test_dev_containers import wait_for_phase

    failed = wait_for_phase(app, {Phase.FAILED, Phase.READY}, timeout=300)
    assert failed.phase == Phase.FAILED, failed.message
    assert failed.message.startswith("The dev server exited with code") and "workspace is full" in failed.message, failed.message
    # (npm's own report of a full disk varies: ENOSPC, or an ENOENT for a folder it could not make.)
    dev.dev_stop(app=app)
