from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from crm import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("customers/io/", include("customers.io_urls")),
    path("customers/", include("customers.urls")),
    path("customers/", include("customers.team_urls")),
    path("sharing/", include("sharing.urls")),
    path("interactions/", include("interactions.urls")),
    path("dedup/", include("dedup.urls")),
    path("dashboards/", include("crm.dashboard_urls")),
    path("audit/", include("crm.audit_urls")),
    path("admin/", admin.site.urls),
]
