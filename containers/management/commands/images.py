from django.core.management.base import BaseCommand, CommandError

from containers.images import ImageError, images_ensure


class Command(BaseCommand):
    help = ("Make MGX's images (base, runtime, agent, dev) when they are missing or out of date "
            "(--force: rebuild them; --no-dev: all but the dev image).")
    # Runs from `./mgx up` before migrations; it needs neither the database nor the checks.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="rebuild the images even when they are current")
        parser.add_argument("--no-dev", action="store_true",
                            help="leave the dev image (the templates' dependencies) alone: ./mgx up makes it in the background")

    def handle(self, *args, force=False, no_dev=False, **options):
        def progress(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        try:
            made = images_ensure(progress=progress, force=force, dev=not no_dev)
        except ImageError as exc:
            raise CommandError(str(exc)) from exc
        for kind, info in made.items():
            progress(f"✓ {kind:<7} {info['name']}: {info['action']} ({info['size'] / 1e6:.0f} MB, {info['seconds']:.0f} s)")
