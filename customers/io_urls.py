"""URLs of import, export and personal-data requests, included at customers/io/ (namespace customers_io)."""

from django.urls import path

from customers import io_views as views

app_name = "customers_io"

urlpatterns = [
    path("import/", views.import_start, name="import-start"),
    path("imports/", views.import_list, name="import-list"),
    path("import/template.<str:file_format>", views.import_template, name="import-template"),
    path("import/<int:pk>/", views.import_detail, name="import-detail"),
    path("import/<int:pk>/mapping/", views.import_mapping, name="import-mapping"),
    path("import/<int:pk>/decide/", views.import_decide, name="import-decide"),
    path("import/<int:pk>/cancel/", views.import_cancel, name="import-cancel"),
    path("import/<int:pk>/rejected.<str:file_format>", views.import_rejected, name="import-rejected"),
    path("export/", views.export, name="export"),
    path("privacy/<int:pk>/", views.privacy_page, name="privacy"),
    path("privacy/<int:pk>/export/", views.privacy_export, name="privacy-export"),
    path("privacy/<int:pk>/erase/", views.privacy_erase, name="privacy-erase"),
]
