from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from deployments import services
from deployments.selectors import dev_for_app
from sessions_app.selectors import app_by_slug


class Command(BaseCommand):
    help = "Stop one app's dev server, or (--all-idle) every one nobody has requested for MGX_DEV_IDLE_TIMEOUT."

    def add_arguments(self, parser):
        parser.add_argument("slug", nargs="?")
        parser.add_argument("--all-idle", action="store_true",
                            help="stop the dev servers idle for MGX_DEV_IDLE_TIMEOUT seconds (what the worker does)")

    def handle(self, *args, slug=None, all_idle=False, **options):
        if bool(slug) == bool(all_idle):
            raise CommandError("Give an app's address (dev_stop <slug>) or --all-idle, not both; nothing was stopped.")
        try:
            if all_idle:
                stopped = services.dev_reap_idle()
                minutes = settings.MGX_DEV_IDLE_TIMEOUT // 60
                if stopped:
                    self.stdout.write(f"Stopped {len(stopped)} dev server{'s' if len(stopped) != 1 else ''} idle for "
                                      f"{minutes} minutes or more: {', '.join(stopped)}")
                else:
                    self.stdout.write(f"No dev server has been idle for {minutes} minutes; nothing was stopped.")
                return
            app = app_by_slug(slug=slug)
            if app is None:
                raise CommandError(f"No app at the address “{slug}”; nothing was stopped.")
            was = dev_for_app(app=app).phase
            services.dev_stop(app=app, reason="Stopped by an operator")
        except services.DevError as exc:
            raise CommandError(f"The dev server could not be stopped: {exc}".replace("\n", " ")) from None
        self.stdout.write(f"Stopped the dev server of {app.slug} (it was {was}).")
