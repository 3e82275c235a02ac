"""Let PostgreSQL update the counters rows in place (HOT): no index on a column every write changes,
and free space on each page for the new row versions. See ``ProjectCounters``."""

from django.db import migrations


def set_fillfactor(apps, schema_editor, value: int) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE projects_projectcounters SET (fillfactor = {value})")


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0001_initial"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="projectcounters",
            name="projects_counters_activity",
        ),
        migrations.RunPython(
            lambda apps, schema_editor: set_fillfactor(apps, schema_editor, 50),
            lambda apps, schema_editor: set_fillfactor(apps, schema_editor, 100),
        ),
    ]
