from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate


def _first_party_client(sender, **kwargs):
    # After migrations (and after a test flush) MGX's own login client exists.
    from .services import first_party_client_ensure

    first_party_client_ensure()


def _drop_application(sender, instance, **kwargs):
    # An app's client goes with the app: left behind, its Application row would be a working
    # client that no rule ties to any app any more.
    if instance.kind == instance.Kind.APP:
        from oauth2_provider.models import Application

        Application.objects.filter(pk=instance.application_id).delete()


def _drop_app_only_account(sender, instance, **kwargs):
    # An app-only account exists for its membership; without it, it must not linger.
    if instance.app_only:
        from django.contrib.auth import get_user_model

        get_user_model().objects.filter(pk=instance.user_id).delete()


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from .keys import keyring_install
        from .models import AppMember, OAuthClient

        keyring_install()

        post_migrate.connect(_first_party_client, sender=self, dispatch_uid="mgx_first_party_client")
        post_delete.connect(_drop_application, sender=OAuthClient, dispatch_uid="mgx_drop_app_client")
        post_delete.connect(_drop_app_only_account, sender=AppMember, dispatch_uid="mgx_drop_app_only_account")
