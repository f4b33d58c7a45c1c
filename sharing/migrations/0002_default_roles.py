"""Create the default roles (Groups with a RolePolicy). Data migration, reversible."""

from django.db import migrations

from sharing.roles import DEFAULT_ROLES


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    RolePolicy = apps.get_model("sharing", "RolePolicy")
    for code, spec in DEFAULT_ROLES.items():
        group, _ = Group.objects.get_or_create(name=spec["name"])
        RolePolicy.objects.update_or_create(
            code=code,
            defaults={
                "group": group,
                "view_scope": spec["view_scope"],
                "change_scope": spec["change_scope"],
                "field_levels": spec["field_levels"],
                "interaction_kinds": spec["interaction_kinds"],
                **dict.fromkeys(spec["flags"], True),
            },
        )


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    RolePolicy = apps.get_model("sharing", "RolePolicy")
    RolePolicy.objects.filter(code__in=DEFAULT_ROLES).delete()
    Group.objects.filter(name__in=[s["name"] for s in DEFAULT_ROLES.values()]).delete()


class Migration(migrations.Migration):
    dependencies = [("sharing", "0001_initial")]
    operations = [migrations.RunPython(create_roles, remove_roles)]
