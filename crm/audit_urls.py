from django.urls import path

from crm import audit_views

app_name = "audit"

urlpatterns = [
    path("", audit_views.log, name="log"),
    path("logins/", audit_views.logins, name="logins"),
    path("logins/unlock/", audit_views.unlock, name="unlock"),
]
