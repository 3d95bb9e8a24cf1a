from django.core.management.base import BaseCommand, CommandError

from containers.images import ImageError, images_ensure


class Command(BaseCommand):
    help = "Make the base and runtime images when they are missing or out of date (--force: rebuild both)."
    # Runs from `./mgx up` before migrations; it needs neither the database nor the checks.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="rebuild both images even when they are current")

    def handle(self, *args, force=False, **options):
        def progress(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        try:
            made = images_ensure(progress=progress, force=force)
        except ImageError as exc:
            raise CommandError(str(exc)) from exc
        for kind, info in made.items():
            progress(f"✓ {kind:<7} {info['name']}: {info['action']} ({info['size'] / 1e6:.0f} MB, {info['seconds']:.0f} s)")
