from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InteractionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "interactions"
    verbose_name = _("Interactions")

    def ready(self):
        from auditlog.registry import auditlog
        from django.db.models.signals import post_migrate

        from interactions import models as m
        from interactions.copies import COPY_COLUMNS

        # The customer copies are the database's business (interactions/copies.py): an instance
        # created in this process holds None there while its row holds the copies; not a change.
        copies = list(COPY_COLUMNS)
        auditlog.register(m.Activity, exclude_fields=copies)
        auditlog.register(m.Opportunity, exclude_fields=copies)
        auditlog.register(m.Quote)
        auditlog.register(m.Contract)
        auditlog.register(m.Order)
        auditlog.register(m.Shipment)
        auditlog.register(m.Payment, exclude_fields=copies)
        auditlog.register(m.ServiceCase, m2m_fields={"responsible_units"}, exclude_fields=copies)
        auditlog.register(m.CaseEvent)
        for model in (m.CareRule, m.CareRun, m.CareTouch, m.Campaign, m.CampaignParticipation):
            auditlog.register(model)
        post_migrate.connect(_ensure_copy_triggers, sender=self, dispatch_uid="interactions_copy_triggers")


def _ensure_copy_triggers(sender, using="default", **kwargs):
    """SQLite drops a table's triggers when a migration remakes the table: put them back."""
    from django.db import connections

    from interactions.copies import ensure_triggers

    ensure_triggers(connections[using])
