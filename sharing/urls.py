from django.urls import path

from sharing import views

app_name = "sharing"

urlpatterns = [
    path("customers/<int:pk>/access/", views.customer_access, name="customer_access"),
    path("customers/<int:pk>/access/share/", views.share_create, name="share_create"),
    path("customers/<int:pk>/unmask/<slug:field_group>/", views.unmask, name="unmask"),
    path("customers/<int:pk>/request/", views.request_create, name="request_create"),
    path("grants/<slug:kind>/<int:pk>/revoke/", views.share_revoke, name="share_revoke"),
    path("users/<int:pk>/access/", views.user_access, name="user_access"),
    path("review/", views.review, name="review"),
    path("requests/", views.requests, name="requests"),
    path("requests/<int:pk>/withdraw/", views.request_withdraw, name="request_withdraw"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:pk>/decide/", views.request_decide, name="request_decide"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/badge/", views.notifications_badge, name="notifications_badge"),
    path("notifications/settings/", views.reminder_settings, name="reminder_settings"),
]
