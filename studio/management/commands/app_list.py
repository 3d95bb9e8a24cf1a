import json

from django.core.management.base import BaseCommand

from sessions_app import selectors


class Command(BaseCommand):
    help = "List every app: address (slug), name, framework, owner and the dev server's phase."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON array instead of a table")

    def handle(self, *args, as_json: bool = False, **options):
        rows = []
        for app in selectors.apps_all():
            dev = getattr(app, "dev", None)  # no row: it never ran
            rows.append({"slug": app.slug, "name": app.name, "framework": app.framework,
                         "owner": app.owner.get_username(), "dev": dev.phase if dev else "stopped"})
        if as_json:
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        if not rows:
            self.stdout.write("No apps yet (create one with `./mgx manage app_create`).")
            return
        header = {"slug": "SLUG", "name": "NAME", "framework": "FRAMEWORK", "owner": "OWNER", "dev": "DEV"}
        widths = {k: max(len(str(r[k])) for r in [header, *rows]) for k in header}
        for row in [header, *rows]:
            self.stdout.write("  ".join(str(row[k]).ljust(widths[k]) for k in header).rstrip())
        self.stdout.write(f"{len(rows)} app{'s' if len(rows) != 1 else ''}")
