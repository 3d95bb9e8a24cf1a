"""Every app has its OAuth2 client, so pages that show it (the Users tab) only read. New apps get
theirs in `sessions_app.services.app_create`; this registers one for any app made before that
(the same settings as `accounts.services.app_client_register`)."""
from django.conf import settings
from django.db import migrations
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.settings import oauth2_settings


def _register_missing(apps, schema_editor):
    App = apps.get_model("sessions_app", "App")
    OAuthClient = apps.get_model("accounts", "OAuthClient")
    Application = apps.get_model(oauth2_settings.APPLICATION_MODEL)
    base = settings.MGX_APPS_URL
    for app in App.objects.exclude(pk__in=OAuthClient.objects.filter(app__isnull=False).values("app_id")):
        application = Application.objects.create(
            name=f"{app.name} ({app.slug})",
            client_type="confidential",
            authorization_grant_type="authorization-code",
            redirect_uris=" ".join(f"{base}/apps/{app.slug}/{stage}/auth/callback" for stage in ("dev", "prod")),
            post_logout_redirect_uris=" ".join(f"{base}/apps/{app.slug}/{stage}/" for stage in ("dev", "prod")),
            hash_client_secret=False,
            client_secret=generate_client_secret(),
            skip_authorization=True,
            algorithm="RS256",
        )
        OAuthClient.objects.create(application=application, kind="app", app=app,
                                   extra_grant_types="password client_credentials")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_app_clients_on_apps_origin"),
        ("sessions_app", "0001_initial"),
        migrations.swappable_dependency(oauth2_settings.APPLICATION_MODEL),
    ]

    operations = [migrations.RunPython(_register_missing, migrations.RunPython.noop)]
