from django.core.management.base import BaseCommand, CommandError

from accounts.services import admin_ensure, admin_password_reset


class Command(BaseCommand):
    help = "Create the first admin once (prints its password once), or reset its password with --reset."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="set and print a new password for 'admin'")

    def handle(self, *args, reset=False, **options):
        if reset:
            try:
                password = admin_password_reset()
            except Exception as exc:
                raise CommandError(f"no superuser named 'admin' to reset: {exc}") from exc
            self.stdout.write(f"new password for admin: {password}")
            return
        password = admin_ensure()
        if password is None:
            self.stdout.write("admin exists (its password was shown once; `./mgx reset-admin` sets a new one)")
        else:
            self.stdout.write(f"created admin — user: admin  password: {password}  (shown once; keep it)")
