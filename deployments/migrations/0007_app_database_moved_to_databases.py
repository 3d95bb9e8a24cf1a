from django.db import migrations


class Migration(migrations.Migration):
    """AppDatabase now belongs to the databases app (its migration 0001 takes the same table)."""

    dependencies = [
        ("deployments", "0006_dev_worker"),
        ("databases", "0001_app_database_moved_here"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AppDatabase")],
            database_operations=[],
        ),
    ]
