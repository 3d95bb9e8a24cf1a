"""SSH public keys: what people paste, what MGX accepts, and what it says when it refuses."""
import pytest

from accounts.ssh import SSHKeyError, parse_public_key

# Made with ssh-keygen; the fingerprints are what `ssh-keygen -lf` printed for them.
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIagIHkALagr6PDU9jadW5MxUL/ZDYJ2bVC2YdXt0WaH dev@laptop"
ED25519_FP = "SHA256:/LgpZJuZbFnfst2YTctzJeWTNy9ZFuqwVUsS3kBq6KA"
ECDSA = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBF+omlAexIKQUDutlfMLBnrMNxbmlUst9T8JqtCuV"
    "O4YV9m6++3ik23BIkheMkGL3mmREw18Rt4l+HE5smxZGjk= ec@host"
)
ECDSA_FP = "SHA256:raJDbo2T066YoM8cXaPOF5idMRvNnXLirK1ZSyHoLuE"
RSA_3072 = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQDCSt5ne7wMsI7R8x73MYxh6pY9kXMK3VjSzC4sBMhVWhgNpo1F/9L5PjG3LWtVr9arT3tUzHGsKP+s3v"
    "rMZ2j1PzDK+UQ9QUF7NMxcS0W8nJs5sjGQDwjbt4FpCdc/NbAYYiwPl5GOg8/+pK54N1tfbw914LWQIRwiiLEVX25/vBJvuh3p9A1dIkfHAKuZpDYIhoS"
    "YuU0VIvXSaR1SGmgeoDhiVA3zXgOglyx9qLjPk5EVSefR0cTOMI9LYqqALHhsOdebp1gwUjlDsbDyuoaE4Oo/cFRaof+eZj47FjhomnSrCZ5Qfnkv42Hj"
    "vS59pDiZO8968BhJhw7Poah9zvgYtz+c7Gqqr0fnnyLx6vyVpJ5Xc7VCrgtD4vRc39qH+ZC2kNmO61AUg0oa1BbuD2GwLqukocrmMqlcVg871yCAZaRND"
    "QAwxHOkjvkn0LH5X9kM6jddWxdt5DnHmt/jNK+6O+0U32/3aBeuExXiKNk/pTbTFNkbbmstsTEbd36sniU= rsa@host"
)
RSA_3072_FP = "SHA256:AB0rCOE5KDKmH22DQjAmwLzfL9R/Ikv6R7n0RuksRq8"
RSA_1024 = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC2IRVVD5HUGdGabJKpq/0Hu0bM+2t+sij3KVYtP11sccTQs1BhaCXGJ1wvIZ10qsc72nZkfWc4cw9iQ"
    "eRsrXlO465q4OZbDkvtq/CNwjVo+8a89NuukiizMQWmO5vhKRdHwNbz4DpDBPQ0zEvEIKlpZ88W83ksg6vGrAFUZH1APw== old"
)


@pytest.mark.parametrize(
    "text, key_type, bits, fingerprint, comment",
    [
        (ED25519, "ssh-ed25519", 256, ED25519_FP, "dev@laptop"),
        (ECDSA, "ecdsa-sha2-nistp256", 256, ECDSA_FP, "ec@host"),
        (RSA_3072, "ssh-rsa", 3072, RSA_3072_FP, "rsa@host"),
        ("  " + ED25519 + "\n", "ssh-ed25519", 256, ED25519_FP, "dev@laptop"),
    ],
)
def test_accepted_keys_get_the_fingerprint_ssh_keygen_prints(text, key_type, bits, fingerprint, comment):
    key = parse_public_key(text)
    assert (key.key_type, key.bits, key.fingerprint, key.comment) == (key_type, bits, fingerprint, comment)
    assert key.public_key == " ".join(text.split()[:2])


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Paste a public key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5v\n-----END OPENSSH PRIVATE KEY-----", "That is a private key"),
        (RSA_1024, "This RSA key has only 1024 bits; use at least 2048"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP hello", "DSA (ssh-dss) keys are no longer accepted"),
        ("ssh-foo AAAA", "“ssh-foo” is not a supported key type"),
        ("ssh-ed25519", "A public key looks like"),
        ("ssh-ed25519 not*base64!", "not valid base64"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIagIHkALagr6PDU9jad", "damaged or cut off"),
        (ED25519.replace("ssh-ed25519", "ssh-rsa"), "does not match its type “ssh-rsa”"),
        (ED25519 + "\n" + ECDSA, "Paste one key at a time"),
        ("---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----", "SSH2 (RFC 4716) format"),
    ],
)
def test_malformed_keys_are_refused_with_a_clear_message(text, message):
    with pytest.raises(SSHKeyError) as refused:
        parse_public_key(text)
    assert message in str(refused.value)
