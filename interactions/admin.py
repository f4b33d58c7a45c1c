"""Admin for interaction records: read-mostly, for administrators (staff) only.

Numbers are issued by the services, so records are created in the app, not here; the admin lets
an administrator correct a field, and auditlog records every change.
"""

from django.contrib import admin

from interactions import models as m


class RecordAdmin(admin.ModelAdmin):
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]
    readonly_fields = ["created_at", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(m.Activity)
class ActivityAdmin(RecordAdmin):
    list_display = ["subject", "kind", "customer", "user", "occurred_at", "follow_up_on", "follow_up_done"]
    list_filter = ["kind", "follow_up_done"]
    raw_id_fields = ["customer", "user"]
    date_hierarchy = "occurred_at"


@admin.register(m.Opportunity)
class OpportunityAdmin(RecordAdmin):
    list_display = ["name", "customer", "stage", "amount", "currency", "owner", "expected_close_on"]
    list_filter = ["stage", "currency"]
    raw_id_fields = ["customer", "owner"]


@admin.register(m.Quote)
class QuoteAdmin(RecordAdmin):
    list_display = ["number", "customer", "status", "amount", "currency", "issued_on"]
    list_filter = ["status"]
    raw_id_fields = ["customer", "opportunity"]
    search_fields = ["number"]


@admin.register(m.Contract)
class ContractAdmin(RecordAdmin):
    list_display = ["number", "customer", "status", "amount", "currency", "start_on", "end_on"]
    list_filter = ["status"]
    raw_id_fields = ["customer", "quote"]
    search_fields = ["number"]


@admin.register(m.Order)
class OrderAdmin(RecordAdmin):
    list_display = ["number", "customer", "status", "amount", "currency", "ordered_on"]
    list_filter = ["status"]
    raw_id_fields = ["customer", "contract"]
    search_fields = ["number"]


@admin.register(m.Shipment)
class ShipmentAdmin(RecordAdmin):
    list_display = ["number", "customer", "status", "shipped_on", "delivered_on", "carrier"]
    list_filter = ["status"]
    raw_id_fields = ["customer", "order"]
    search_fields = ["number", "tracking_number"]


@admin.register(m.Payment)
class PaymentAdmin(RecordAdmin):
    list_display = ["number", "customer", "status", "amount", "currency", "due_on", "paid_on"]
    list_filter = ["status"]
    raw_id_fields = ["customer", "contract", "order"]
    search_fields = ["number"]


class CaseEventInline(admin.TabularInline):
    model = m.CaseEvent
    extra = 0
    can_delete = False
    readonly_fields = ["from_status", "to_status", "actor", "note", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(m.ServiceCase)
class ServiceCaseAdmin(RecordAdmin):
    list_display = ["number", "subject", "customer", "type", "severity", "status", "due_at"]
    list_filter = ["type", "status", "severity", "category"]
    raw_id_fields = ["customer", "responsible_user"]
    filter_horizontal = ["responsible_units"]
    search_fields = ["number", "subject"]
    inlines = [CaseEventInline]
