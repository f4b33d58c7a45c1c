from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InteractionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "interactions"
    verbose_name = _("Interactions")

    def ready(self):
        from auditlog.registry import auditlog

        from interactions import models as m

        auditlog.register(m.Activity)
        auditlog.register(m.Opportunity)
        auditlog.register(m.Quote)
        auditlog.register(m.Contract)
        auditlog.register(m.Order)
        auditlog.register(m.Shipment)
        auditlog.register(m.Payment)
        auditlog.register(m.ServiceCase, m2m_fields={"responsible_units"})
        auditlog.register(m.CaseEvent)
        for model in (m.CareRule, m.CareRun, m.CareTouch, m.Campaign, m.CampaignParticipation):
            auditlog.register(model)
