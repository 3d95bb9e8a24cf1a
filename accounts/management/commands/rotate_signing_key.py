from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.keys import keyring_rotate


class Command(BaseCommand):
    help = (
        "Make a new RS256 key for access and ID tokens. The old key stops signing at once but stays "
        "in the JWKS until every token it signed has expired, so nobody is logged out. Running "
        "MGX processes switch on their next request."
    )

    def handle(self, *args, **options):
        try:
            ring, old_kid = keyring_rotate(
                settings.VAR_DIR,
                retention_seconds=settings.MGX_OIDC_KEY_RETENTION_SECONDS,
                env_pem=settings.MGX_OIDC_KEYRING.active_pem if settings.MGX_OIDC_KEYRING.source == "env" else "",
            )
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        hours = settings.MGX_OIDC_KEY_RETENTION_SECONDS / 3600
        self.stdout.write(f"new signing key: {ring.active_kid}")
        self.stdout.write(f"retired key:     {old_kid} (published in the JWKS for another {hours:.1f} h)")
        if len(ring.retired) > 1:
            self.stdout.write(f"{len(ring.retired) - 1} older retired key(s) still published")
