"""The signing keyring under the var dir: made once, rotated without dropping old tokens."""
import json
import threading

import pytest
from jwcrypto import jwk

from accounts.keys import KEYRING_FILE, KeyringWatcher, key_id, keyring_load, keyring_rotate

HOUR = 3600


def test_first_start_makes_one_private_key_file_only_the_owner_can_read(tmp_path):
    ring = keyring_load(tmp_path, retention_seconds=HOUR)

    path = tmp_path / KEYRING_FILE
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert jwk.JWK.from_pem(ring.active_pem.encode()).kty == "RSA"
    assert ring.retired == () and ring.source == "file"
    assert keyring_load(tmp_path, retention_seconds=HOUR).active_pem == ring.active_pem  # kept across restarts


def test_processes_starting_together_agree_on_one_key(tmp_path):
    rings = []

    def start():
        rings.append(keyring_load(tmp_path, retention_seconds=HOUR).active_kid)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(rings)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [KEYRING_FILE]  # no temp files left behind


def test_rotation_keeps_the_old_key_published_until_its_tokens_expired(tmp_path):
    first = keyring_load(tmp_path, retention_seconds=HOUR, now=1000.0)

    second, retired_kid = keyring_rotate(tmp_path, retention_seconds=HOUR, now=2000.0)

    assert retired_kid == first.active_kid != second.active_kid
    assert [key_id(p) for p in second.inactive_pems] == [first.active_kid]
    # Within the retention the retired key is still there; after it, it is dropped.
    assert keyring_load(tmp_path, retention_seconds=HOUR, now=2000.0 + HOUR - 1).inactive_pems == second.inactive_pems
    assert keyring_load(tmp_path, retention_seconds=HOUR, now=2000.0 + HOUR + 1).inactive_pems == []
    third, _ = keyring_rotate(tmp_path, retention_seconds=HOUR, now=2000.0 + HOUR + 1)
    stored = json.loads((tmp_path / KEYRING_FILE).read_text())
    assert [key_id(k["pem"]) for k in stored["retired"]] == [second.active_kid]  # expired ones leave the file
    assert third.active_kid not in (first.active_kid, second.active_kid)


def test_a_key_from_the_environment_wins_and_cannot_be_rotated_here(tmp_path):
    pem = jwk.JWK.generate(kty="RSA", size=2048).export_to_pem(private_key=True, password=None).decode()
    ring = keyring_load(tmp_path, retention_seconds=HOUR, env_pem=pem)
    assert ring.source == "env" and ring.active_kid == key_id(pem)
    assert not (tmp_path / KEYRING_FILE).exists()
    with pytest.raises(RuntimeError, match="MGX_OIDC_RSA_PRIVATE_KEY"):
        keyring_rotate(tmp_path, retention_seconds=HOUR, env_pem=pem)


def test_a_running_process_notices_a_rotation(tmp_path):
    ring = keyring_load(tmp_path, retention_seconds=HOUR)
    seen = []
    watcher = KeyringWatcher(ring=ring, retention_seconds=HOUR, on_change=seen.append)
    assert watcher.check() is False

    rotated, _ = keyring_rotate(tmp_path, retention_seconds=HOUR)

    assert watcher.check() is True
    assert seen[0].active_kid == rotated.active_kid and watcher.check() is False
