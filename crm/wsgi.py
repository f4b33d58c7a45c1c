import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
# Web requests run without parallel plans or JIT (crm/settings.py WEB_PG_SESSION_OPTIONS, ADR 0018);
# set CRM_PG_SESSION_OPTIONS to other libpq options (or " " for none) to choose otherwise.
os.environ.setdefault("CRM_PG_SESSION_OPTIONS", "web")
application = get_wsgi_application()
