"""Create the "marketing" role (campaigns, docs/reminders-and-campaigns.md). Data migration, reversible."""

from django.db import migrations

SPEC = {
    "name": "Marketing",
    "view_scope": "all",
    "change_scope": "none",
    "field_levels": {"core": 2, "contact": 1, "sales": 2},
    "interaction_kinds": ["activity", "opportunity"],
}


def create_role(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    RolePolicy = apps.get_model("sharing", "RolePolicy")
    group, _ = Group.objects.get_or_create(name=SPEC["name"])
    RolePolicy.objects.get_or_create(
        code="marketing",
        defaults={
            "group": group,
            "view_scope": SPEC["view_scope"],
            "change_scope": SPEC["change_scope"],
            "field_levels": SPEC["field_levels"],
            "interaction_kinds": SPEC["interaction_kinds"],
        },
    )


def remove_role(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    RolePolicy = apps.get_model("sharing", "RolePolicy")
    RolePolicy.objects.filter(code="marketing").delete()
    Group.objects.filter(name=SPEC["name"], policy__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("sharing", "0004_notification_reminders")]
    operations = [migrations.RunPython(create_role, remove_role)]
