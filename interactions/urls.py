from django.urls import path

from interactions import campaign_views, views

app_name = "interactions"

urlpatterns = [
    # activities and follow-ups
    path("followups/", views.followups, name="followups"),
    path("followups/<int:pk>/done/", views.followup_done, name="followup_done"),
    path("customers/<int:customer_pk>/activities/new/", views.activity_create, name="activity_create"),
    path("activities/<int:pk>/edit/", views.activity_edit, name="activity_edit"),
    path("customers/<int:customer_pk>/timeline/", views.timeline, name="timeline"),
    # the sales chain
    path("opportunities/", views.opportunity_list, name="opportunity_list"),
    path("customers/<int:customer_pk>/opportunities/new/", views.opportunity_create, name="opportunity_create"),
    path("opportunities/<int:pk>/", views.opportunity_detail, name="opportunity_detail"),
    path("opportunities/<int:pk>/stage/", views.opportunity_stage, name="opportunity_stage"),
    path("opportunities/<int:pk>/quotes/new/", views.quote_create, name="quote_create"),
    path("quotes/<int:pk>/", views.quote_detail, name="quote_detail"),
    path("quotes/<int:pk>/contracts/new/", views.contract_create, name="contract_create"),
    path("contracts/<int:pk>/", views.contract_detail, name="contract_detail"),
    path("contracts/<int:pk>/orders/new/", views.order_create, name="order_create"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("orders/<int:pk>/shipments/new/", views.shipment_create, name="shipment_create"),
    path("shipments/<int:pk>/", views.shipment_detail, name="shipment_detail"),
    path("customers/<int:customer_pk>/payments/new/", views.payment_create, name="payment_create"),
    path("payments/<int:pk>/", views.payment_detail, name="payment_detail"),
    path("payments/<int:pk>/paid/", views.payment_paid, name="payment_paid"),
    path("documents/<str:kind>/<int:pk>/status/", views.document_status, name="document_status"),
    path("receivables/", views.receivables, name="receivables"),
    # service cases
    path("cases/", views.case_list, name="case_list"),
    path("cases/new/", views.case_create, name="case_create"),
    path("cases/<int:pk>/", views.case_detail, name="case_detail"),
    path("cases/<int:pk>/advance/", views.case_advance, name="case_advance"),
    path("cases/<int:pk>/close/", views.case_close, name="case_close"),
    path("cases/<int:pk>/reopen/", views.case_reopen, name="case_reopen"),
    # campaigns (interactions/campaign_views.py)
    path("campaigns/", campaign_views.campaign_list, name="campaign_list"),
    path("campaigns/new/", campaign_views.campaign_create, name="campaign_create"),
    path("campaigns/<int:pk>/", campaign_views.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:pk>/import/", campaign_views.participation_import, name="participation_import"),
    path("participations/<int:pk>/", campaign_views.participation_update, name="participation_update"),
]
