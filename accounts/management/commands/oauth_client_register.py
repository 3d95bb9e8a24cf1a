from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import selectors, services


def one_line(exc: ValidationError) -> str:
    """A ValidationError as the one line an operator reads: `field: message; …`."""
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field.replace('_', ' ')}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = ("Register an OAuth2 client for an app outside MGX that logs MGX users in. Prints the client id "
            "and, for a confidential client, its secret: this once (MGX keeps only a hash).")

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="shown to people when they are asked to allow the app")
        parser.add_argument("--redirect-uri", action="append", default=[], dest="redirect_uris", metavar="URI",
                            help="absolute http(s) URL the login returns to (repeat for several)")
        parser.add_argument("--grant", action="append", default=[], dest="grants",
                            metavar="|".join(services.EXTERNAL_GRANTS),
                            help="a grant type the client may use (repeat for several)")
        kind = parser.add_mutually_exclusive_group(required=True)
        kind.add_argument("--public", action="store_false", dest="confidential",
                          help="no secret (single-page or mobile apps; PKCE is required)")
        kind.add_argument("--confidential", action="store_true", dest="confidential",
                          help="has a secret (apps with a server)")
        parser.add_argument("--owner", help="the MGX user who manages it on “Your OAuth clients”")

    def handle(self, *args, name, redirect_uris, grants, confidential, owner=None, **options):
        owner_user = None
        if owner:
            owner_user = get_user_model().objects.filter(username=owner).first()
            if owner_user is None or selectors.is_app_only(user=owner_user):
                raise CommandError(f"No MGX user named “{owner}”; nothing was registered.")
        try:
            client, secret = services.external_client_register(
                name=name, redirect_uris=redirect_uris, grants=grants, confidential=confidential, owner=owner_user)
        except ValidationError as exc:
            raise CommandError(f"{one_line(exc)} Nothing was registered.") from None
        application = client.application
        self.stdout.write(f"Registered the {'confidential' if confidential else 'public'} OAuth client "
                          f"“{application.name}”" + (f" for {owner_user.get_username()}" if owner_user else "") + ".")
        self.stdout.write(f"  client id:      {application.client_id}")
        if secret:
            self.stdout.write(f"  client secret:  {secret}")
            self.stdout.write("  (shown this once: MGX keeps only a hash; copy it now)")
        self.stdout.write(f"  grants:         {', '.join(selectors.client_grants_shown(client=client))}")
        if application.redirect_uris:
            self.stdout.write(f"  redirect URIs:  {', '.join(application.redirect_uris.split())}")
        self.stdout.write(f"  issuer:         {settings.MGX_OAUTH_ISSUER} "
                          f"(discovery: {settings.MGX_PUBLIC_URL}/.well-known/openid-configuration)")
