from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM"

    def ready(self):
        from crm import pgtypes  # noqa: F401 - connects the connection_created receiver
