from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "customers"
    verbose_name = _("Customers")

    def ready(self):
        from auditlog.registry import auditlog

        from customers import models as m

        auditlog.register(m.Customer, m2m_fields={"roles", "tags"}, exclude_fields=["version", "name_normalized"])
        # Identity and contact values never reach the log in clear (the audit viewer shows changes).
        auditlog.register(m.CompanyProfile, mask_fields=["credit_code", "registered_address"])
        auditlog.register(m.PersonProfile, mask_fields=["id_number", "birth_date"])
        auditlog.register(m.ContactPoint, mask_fields=["value", "normalized"])
        auditlog.register(m.Relationship)
