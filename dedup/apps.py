from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class DedupConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dedup"
    verbose_name = _("Duplicates and data quality")

    def ready(self):
        """Keep the match-key table in step with the customer master: any save of a customer, its
        profile or a contact point refreshes that customer's keys when the transaction commits."""
        from auditlog.registry import auditlog

        from customers.models import CompanyProfile, ContactPoint, Customer, PersonProfile
        from dedup import models as m
        from dedup import services

        post_save.connect(services.on_customer_saved, sender=Customer, dispatch_uid="dedup_keys_customer")
        for model in (ContactPoint, CompanyProfile, PersonProfile):
            uid = f"dedup_keys_{model._meta.model_name}"
            post_save.connect(services.on_customer_part_changed, sender=model, dispatch_uid=f"{uid}_save")
            post_delete.connect(services.on_customer_part_changed, sender=model, dispatch_uid=f"{uid}_delete")
        # Decisions and jobs are audited; journals are not (their pre-images hold personal data and
        # merges are logged with log_event instead).
        auditlog.register(m.CandidatePair, include_fields=["status", "decided_by", "decided_at", "decision_reason"])
        auditlog.register(m.DedupJob, include_fields=["status", "kind", "province", "org_unit", "incremental"])
