"""Create the customer roles (customer, debtor, supplier, partner, prospect). Reversible."""

from django.db import migrations

ROLES = [
    ("customer", "Customer"),
    ("debtor", "Debtor"),
    ("supplier", "Supplier"),
    ("partner", "Partner"),
    ("prospect", "Prospect"),
]


def create(apps, schema_editor):
    CustomerRole = apps.get_model("customers", "CustomerRole")
    for code, name in ROLES:
        CustomerRole.objects.get_or_create(code=code, defaults={"name": name})
    NumberSequence = apps.get_model("customers", "NumberSequence")
    NumberSequence.objects.get_or_create(name="customer")


def remove(apps, schema_editor):
    apps.get_model("customers", "CustomerRole").objects.filter(code__in=[c for c, _ in ROLES]).delete()


class Migration(migrations.Migration):
    dependencies = [("customers", "0002_initial")]
    operations = [migrations.RunPython(create, remove)]
