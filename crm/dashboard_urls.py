from django.urls import path

from crm import dashboard_views

app_name = "dashboards"

urlpatterns = [
    path("", dashboard_views.index, name="index"),
    path("silent/", dashboard_views.silent, name="silent"),
]
