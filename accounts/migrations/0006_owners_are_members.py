from django.db import migrations
from django.db.models.functions import Lower


def owners_join(apps, schema_editor):
    """Apps made before owners were members of their own app: the owner may log in with their
    MGX account from now on (removable on the Users tab), unless an app user already has the name."""
    App = apps.get_model("sessions_app", "App")
    AppMember = apps.get_model("accounts", "AppMember")
    for app in App.objects.select_related("owner"):
        name = app.owner.username
        taken = AppMember.objects.filter(app=app).annotate(low=Lower("username")).filter(low=name.lower()).exists()
        if taken or AppMember.objects.filter(app=app, user=app.owner).exists():
            continue
        AppMember.objects.create(app=app, user=app.owner, username=name, app_only=False, source="owner")


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0005_member_sources"),
        ("sessions_app", "0001_initial"),
    ]

    operations = [migrations.RunPython(owners_join, migrations.RunPython.noop)]
