"""The default team roles of account teams (administrators edit the list in the admin site)."""

from django.db import migrations

TEAM_ROLES = [
    ("sales_rep", "Sales rep"),
    ("sales_manager", "Sales manager"),
    ("channel_manager", "Channel manager"),
    ("purchasing_manager", "Purchasing manager"),
    ("service_engineer", "Service engineer"),
    ("finance_contact", "Finance contact"),
]


def create_roles(apps, schema_editor):
    TeamRole = apps.get_model("customers", "TeamRole")
    for position, (code, name) in enumerate(TEAM_ROLES):
        TeamRole.objects.get_or_create(code=code, defaults={"name": name, "position": position})


def delete_roles(apps, schema_editor):
    TeamRole = apps.get_model("customers", "TeamRole")
    TeamRole.objects.filter(
        code__in=[code for code, _name in TEAM_ROLES],
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("customers", "0005_account_teams_rules_pool")]

    operations = [migrations.RunPython(create_roles, delete_roles)]
