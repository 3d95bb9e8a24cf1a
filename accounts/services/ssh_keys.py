"""An MGX user's SSH public keys (for git over SSH)."""
from django.core.exceptions import ValidationError

from core.errors import NotFound

from ..models import SSHKey
from ..ssh import SSHKeyError, parse_public_key


def ssh_key_add(*, user, public_key: str, title: str = "") -> SSHKey:
    try:
        parsed = parse_public_key(public_key)
    except SSHKeyError as exc:
        raise ValidationError({"public_key": [str(exc)]}) from None
    title = (title or "").strip() or parsed.comment or parsed.key_type
    if SSHKey.objects.filter(fingerprint=parsed.fingerprint).exists():
        mine = SSHKey.objects.filter(fingerprint=parsed.fingerprint, user=user).exists()
        raise ValidationError({"public_key": [
            "You have already added this key." if mine else "This key is already in use by another account; each key can belong to one account only."
        ]})
    return SSHKey.objects.create(
        user=user,
        title=title[:100],
        key_type=parsed.key_type,
        public_key=parsed.public_key,
        fingerprint=parsed.fingerprint,
        bits=parsed.bits,
    )


def ssh_key_delete(*, user, key_id: int) -> SSHKey:
    key = SSHKey.objects.filter(user=user, pk=key_id).first()
    if key is None:
        raise NotFound("No such key.")
    key.delete()
    return key
