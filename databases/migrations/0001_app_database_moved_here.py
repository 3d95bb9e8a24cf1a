import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """The AppDatabase row moved from deployments to databases, with its table as it is: only
    Django's idea of which app owns it changes (deployments 0007 forgets it there)."""

    initial = True

    dependencies = [
        ("deployments", "0006_dev_worker"),
        ("sessions_app", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AppDatabase",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(max_length=64, unique=True)),
                        ("provisioned_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("app", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name="database",
                                                     to="sessions_app.app")),
                    ],
                    options={"verbose_name": "app database", "db_table": "deployments_appdatabase"},
                ),
            ],
            database_operations=[],
        ),
    ]
