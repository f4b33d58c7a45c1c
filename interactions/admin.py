"""Admin for interaction records: read-mostly, for administrators (staff) only.

Numbers are issued by the services, so records are created in the app, not here; the admin lets
an administrator correct a field, and auditlog records every change.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

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


# --- customer care rules (maintained here by administrators) and campaigns (read-mostly)


class CareRunInline(admin.TabularInline):
    model = m.CareRun
    fields = ["ran_on", "touched", "excluded_no_consent", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    ordering = ["-ran_on"]


@admin.register(m.CareRule)
class CareRuleAdmin(admin.ModelAdmin):
    """Rules are validated by CareRule.clean: impossible schedules and empty targets are refused."""

    list_display = ["name", "kind", "action", "days_before", "event_on", "inactive_days", "is_active", "created_by"]
    list_filter = ["kind", "action", "is_active"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    inlines = [CareRunInline]
    actions = ["run_today"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class WithCreator(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                if not self.instance.created_by_id:
                    # The filter is evaluated with its creator's visibility, also when it is validated.
                    self.instance.created_by = request.user

        return WithCreator

    @admin.action(description=_("Run the selected rules for today"))
    def run_today(self, request, queryset):
        from interactions.care import care_rule_run

        touched = sum(care_rule_run(rule=rule).touched for rule in queryset.filter(is_active=True))
        self.message_user(request, _("%(n)s customers touched today.") % {"n": touched})


@admin.register(m.CareTouch)
class CareTouchAdmin(admin.ModelAdmin):
    list_display = ["rule", "customer", "occasion_on", "run", "activity"]
    list_filter = ["rule"]
    raw_id_fields = ["customer", "run", "activity"]
    list_select_related = ["rule", "customer", "run"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(m.Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "starts_on", "ends_on", "owner_unit", "budget", "created_by"]
    list_filter = ["kind"]
    readonly_fields = ["created_by", "target_built_at", "excluded", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False  # campaigns are created in the app, where the target list is built
