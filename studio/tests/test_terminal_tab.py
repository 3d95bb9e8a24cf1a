"""Issue 27: the Terminal tab is read-only by design, says so, and points to SSH: the Dev tab's
`ssh -p … app@…` command (tested with a running dev server in
deployments/tests/test_logs_terminal_ssh.py), or the profile's SSH keys page when the person has
no key yet."""
import pytest

from accounts.services import ssh_key_add

pytestmark = pytest.mark.django_db



def _public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                                 serialization.PublicFormat.OpenSSH)
    return raw.decode() + " term@laptop"


def test_the_terminal_says_it_is_read_only_and_points_to_ssh(client, app_factory):
    app = app_factory(name="Console Only")
    client.force_login(app.owner)
    tab = client.get(f"/sessions/{app.slug}/?tab=terminal").content.decode()
    assert "Read-only by design" in tab and "nothing typed here reaches the container" in tab
    assert 'href="?tab=dev"' in tab and "ssh -p … app@…" in tab  # no dev server running: where the command will be
    assert 'href="/accounts/profile/#ssh-keys"' in tab  # and the key it needs

    ssh_key_add(user=app.owner, public_key=_public_key(), title="laptop")
    tab = client.get(f"/sessions/{app.slug}/?tab=terminal").content.decode()
    assert "Read-only by design" in tab and "#ssh-keys" not in tab
