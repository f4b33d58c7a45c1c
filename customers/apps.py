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

        # The list's cached filter options (customers.selectors.customer_filter_options) name users,
        # tags and customer roles.
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from customers.selectors import filter_options_changed

        for model in (get_user_model(), m.Tag, m.CustomerRole):
            label = model._meta.label_lower
            post_save.connect(
                filter_options_changed, sender=model, dispatch_uid=f"customers.filter_options.save.{label}"
            )
            post_delete.connect(
                filter_options_changed, sender=model, dispatch_uid=f"customers.filter_options.delete.{label}"
            )
