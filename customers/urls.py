from django.urls import path

from customers import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("new/", views.customer_create, name="create"),
    path("autocomplete/", views.customer_autocomplete, name="autocomplete"),
    path("partials/contact-row/", views.contact_rows, name="contact_rows"),
    path("partials/relationship-row/", views.relationship_rows, name="relationship_rows"),
    path("<int:pk>/", views.customer_detail, name="detail"),
    path("<int:pk>/edit/", views.customer_edit, name="edit"),
    path("<int:pk>/transfer/", views.customer_transfer, name="transfer"),
]
