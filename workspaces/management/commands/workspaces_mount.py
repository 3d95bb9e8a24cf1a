from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from workspaces import quota


class Command(BaseCommand):
    help = ("Mount every workspace's own disk at its folder (after a reboot). `./mgx up` runs it before Daphne "
            "and the worker start, so nothing writes into a bare folder underneath.")

    def handle(self, *args, **options):
        try:
            size = quota.quota_bytes()
            mounted = quota.disks_mount_all(workspace_root=Path(settings.MGX_WORKSPACE_ROOT))
        except (quota.QuotaError, OSError) as exc:
            raise CommandError(f"Workspace disks could not be mounted: {exc}") from None
        if not quota.enforced():
            why = "MGX_WORKSPACE_QUOTA=0" if size == 0 else "MGX does not run as root"
            self.stdout.write(f"no quota ({why}): workspaces are plain folders")
            return
        each = f"{quota.human(size)} each"
        self.stdout.write(f"mounted {len(mounted)} workspace disk(s) ({each})" if mounted else f"quota {each}, disks mounted")
