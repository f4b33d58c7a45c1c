"""Admin of the customer master: read-mostly.

Customers are created, edited, merged and erased through the app's pages and services (numbers,
profiles, optimistic locking, audit). The admin lists the customers the staff user can see
(`visible_to`, never a model-permission shortcut) and lets administrators (superusers or the
"administrator" role) correct owner and org unit, which goes through `customer_transfer` so the move
is logged like any other. Customer roles and tags are reference data administrators maintain here.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, CustomerRole, Tag
from customers.services import customer_transfer
from sharing.selectors import is_role_admin


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("number", "name", "kind", "status", "owner", "org_unit", "updated_at")
    list_filter = ("kind", "status")
    list_select_related = ("owner", "org_unit")
    search_fields = ("=number",)
    search_help_text = _("Exact customer number, e.g. C00012345.")
    fields = ("number", "kind", "name", "status", "owner", "org_unit", "province", "city", "created_at", "updated_at")
    readonly_fields = ("number", "kind", "name", "status", "province", "city", "created_at", "updated_at")
    raw_id_fields = ("owner",)
    show_full_result_count = False

    def get_queryset(self, request):
        # The admin is one more output path: it shows only what the user may see.
        return Customer.objects.visible_to(request.user, action="view")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # erasure and merge are reviewed workflows of their own

    def has_change_permission(self, request, obj=None):
        return is_role_admin(request.user)

    def save_model(self, request, obj, form, change):
        """Only owner and org unit are editable; a change is a logged transfer, never a silent write."""
        if change and {"owner", "org_unit"} & set(form.changed_data):
            customer_transfer(
                customer=obj,
                new_owner=obj.owner,
                new_unit=obj.org_unit,
                transferred_by=request.user,
                reason=str(_("Corrected in the admin site")),
            )


@admin.register(CustomerRole)
class CustomerRoleAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")

    def has_delete_permission(self, request, obj=None):
        return is_role_admin(request.user)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)


from customers import team_admin  # noqa: E402, F401  (account teams, rules, pool policies)
