from django.core.management.base import BaseCommand, CommandError

from sessions_app import selectors
from studio import services


class Command(BaseCommand):
    help = ("Delete an app as “Delete app…” does: its containers, routes, conversation, users, workspace and "
            "history. Needs --yes.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--yes", action="store_true", help="really delete it (there is no undo)")

    def handle(self, *args, slug, yes=False, **options):
        app = selectors.app_by_slug(slug=slug)
        if app is None:
            raise CommandError(f"No app at the address “{slug}”; nothing was deleted.")
        if not yes:
            raise CommandError(f"Deleting “{app.slug}” ({app.name}, owned by {app.owner.get_username()}) cannot be "
                               f"undone: add --yes to do it. Nothing was deleted.")
        try:
            services.app_delete(app=app)
        except services.AppDeleteError as exc:
            raise CommandError(str(exc).replace("\n", " ")) from None
        self.stdout.write(f"Deleted app “{app.name}” ({app.slug}): its containers, routes, conversation, users, "
                          "workspace and history are gone.")
