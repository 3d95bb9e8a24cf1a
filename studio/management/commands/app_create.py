from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from accounts.management.commands.oauth_client_register import one_line
from accounts.selectors import is_app_only
from core.errors import LimitReached
from sessions_app.models import App
from studio import services


class Command(BaseCommand):
    help = "Create an app for a user, as the New app page does (workspace from the template, first commit)."

    def add_arguments(self, parser):
        parser.add_argument("--owner", required=True, help="the MGX user name who owns the app")
        parser.add_argument("--name", required=True)
        parser.add_argument("--framework", required=True, help="|".join(App.Framework.values))
        parser.add_argument("--slug", default="", help="the address /apps/<slug>/ (made from the name when omitted)")
        parser.add_argument("--description", default="",
                            help="what the app should do; the team starts on it as the first message")

    def handle(self, *args, owner, name, framework, slug="", description="", **options):
        user = get_user_model().objects.filter(username=owner).first()
        if user is None or not user.is_active or is_app_only(user=user):
            raise CommandError(f"No active MGX user named “{owner}”; nothing was created.")
        try:
            app = services.app_create(owner=user, name=name, framework=framework, slug=slug, description=description)
        except ValidationError as exc:
            raise CommandError(f"{one_line(exc)} Nothing was created.") from None
        except LimitReached as exc:  # its message says nothing was created
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Created app “{app.name}” ({app.get_framework_display()}) at /apps/{app.slug}/ "
                          f"for {user.get_username()}: {settings.MGX_PUBLIC_URL}{reverse('studio:detail', args=[app.slug])}")
        if app.description:
            self.stdout.write("Its description went to the team as the first message; the chat shows the run.")
