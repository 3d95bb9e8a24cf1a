"""Apps moved to their own origin (MGX_APPS_URL): their clients' redirect and post-logout URIs
follow, or an app's login would be refused with "Mismatching redirect URI"."""
from django.conf import settings
from django.db import migrations


def _to_apps_origin(apps, schema_editor):
    OAuthClient = apps.get_model("accounts", "OAuthClient")
    base = settings.MGX_APPS_URL
    for client in OAuthClient.objects.filter(kind="app").select_related("application", "app"):
        if client.app is None:
            continue
        slug = client.app.slug
        application = client.application
        application.redirect_uris = " ".join(f"{base}/apps/{slug}/{stage}/auth/callback" for stage in ("dev", "prod"))
        application.post_logout_redirect_uris = " ".join(f"{base}/apps/{slug}/{stage}/" for stage in ("dev", "prod"))
        application.save(update_fields=["redirect_uris", "post_logout_redirect_uris"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_login_throttle_per_name_and_address")]

    operations = [migrations.RunPython(_to_apps_origin, migrations.RunPython.noop)]
