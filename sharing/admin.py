"""Admin of the sharing app: org tree, memberships, roles, unit grants; shares and requests read-only.

Rules (TESTING.md "known traps", django-guardian):
- Only role administrators (superusers or holders of the "administrator" role) may add, change or
  delete org units, memberships, roles and their policies, and unit grants, or change a user's roles.
  Ordinary staff see at most what their model permissions allow, read-only where access is concerned.
- Nobody grants anything to themselves here: one's own roles, superuser/staff flags and membership are
  read-only, and a unit grant to a group one belongs to is refused. Shares and unmask grants are
  read-only lists (they are created by access requests and the share page, through services).
- Writes that change access go through sharing.services or are logged explicitly.
- Customer must never be registered with guardian's GuardedModelAdmin (its object-permission views
  would let any staff user with change rights grant object permissions, themselves included): a
  system check (sharing.E001) refuses to start if it is.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.core import checks
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from sharing import services
from sharing.audit import log_event
from sharing.models import (
    AccessRequest,
    CustomerGroupShare,
    CustomerUserShare,
    Membership,
    OrgUnit,
    RolePolicy,
    UnitGrant,
    UnmaskGrant,
)
from sharing.selectors import is_role_admin

User = get_user_model()


class RoleAdminOnlyMixin:
    """Everything (viewing included) only for role administrators."""

    def has_module_permission(self, request):
        return is_role_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return is_role_admin(request.user)

    def has_add_permission(self, request, *args):
        return is_role_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return is_role_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_role_admin(request.user)


class ReadOnlyMixin(RoleAdminOnlyMixin):
    """A read-only list for role administrators (the rows are written through services only)."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- org units


@admin.register(OrgUnit)
class OrgUnitAdmin(RoleAdminOnlyMixin, admin.ModelAdmin):
    list_display = ("tree_name", "code", "kind", "parent", "path", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "code")
    ordering = ("path",)
    readonly_fields = ("path", "depth")
    fields = ("name", "code", "kind", "parent", "is_active", "pool_days", "path", "depth")
    autocomplete_fields = ("parent",)

    @admin.display(description=_("name"), ordering="path")
    def tree_name(self, obj):
        return format_html("{}{}", "\u3000" * obj.depth, obj.name)

    def save_model(self, request, obj, form, change):
        old_parent = form.initial.get("parent") if change else None
        super().save_model(request, obj, form, change)
        if change and "parent" in form.changed_data:
            log_event(
                actor=request.user,
                obj=obj,
                what="org_unit_moved",
                request=request,
                from_parent=old_parent,
                to_parent=obj.parent_id,
            )

    def has_delete_permission(self, request, obj=None):
        # Units are deactivated, not deleted (customers and memberships point at them).
        return False


# --- memberships


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("user", "unit", "is_manager", "approval_delegate")

    def clean(self):
        data = super().clean()
        delegate, user = data.get("approval_delegate"), data.get("user") or getattr(self.instance, "user", None)
        if delegate is not None and user is not None and delegate.pk == user.pk:
            self.add_error("approval_delegate", _("A manager cannot be their own delegate."))
        return data


class SelfProtectedMixin:
    """Role administrators only, and never on one's own account."""

    @staticmethod
    def _user_of(obj):
        if obj is None:
            return None
        return obj if isinstance(obj, User) else getattr(obj, "user", None)

    def _may_edit(self, request, obj):
        if not is_role_admin(request.user):
            return False
        target = self._user_of(obj)
        return target is None or target.pk != request.user.pk


@admin.register(Membership)
class MembershipAdmin(SelfProtectedMixin, RoleAdminOnlyMixin, admin.ModelAdmin):
    form = MembershipForm
    list_display = ("user", "unit", "is_manager", "approval_delegate")
    list_filter = ("is_manager",)
    search_fields = ("user__username", "unit__name", "unit__code")
    autocomplete_fields = ("user", "unit", "approval_delegate")

    def has_change_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def save_model(self, request, obj, form, change):
        if obj.user_id == request.user.pk:
            raise PermissionError("self-assignment")  # the form never gets here: see get_form
        super().save_model(request, obj, form, change)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if "user" in form.base_fields:
            form.base_fields["user"].queryset = User.objects.exclude(pk=request.user.pk)
        return form


class MembershipInline(admin.StackedInline):
    model = Membership
    fk_name = "user"
    form = MembershipForm
    extra = 0
    max_num = 1
    can_delete = False
    autocomplete_fields = ("unit", "approval_delegate")

    def _may_edit(self, request, obj):
        return is_role_admin(request.user) and (obj is None or obj.pk != request.user.pk)

    def has_add_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff


# --- users: roles are granted here, by role administrators only, never to oneself

ACCESS_FIELDS = ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")

admin.site.unregister(User)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = (MembershipInline,)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not is_role_admin(request.user) or (obj is not None and obj.pk == request.user.pk):
            fields += [f for f in ACCESS_FIELDS if f not in fields]
        return fields

    def has_module_permission(self, request):
        return is_role_admin(request.user) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_role_admin(request.user) or super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return is_role_admin(request.user) or super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        if is_role_admin(request.user):
            return True
        # Ordinary staff cannot touch the accounts of superusers and role administrators.
        if obj is not None and (obj.is_superuser or is_role_admin(obj)):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.pk == request.user.pk:
            return False
        if is_role_admin(request.user):
            return True
        if obj is not None and (obj.is_superuser or is_role_admin(obj)):
            return False
        return super().has_delete_permission(request, obj)

    def save_related(self, request, form, formsets, change):
        before = set(form.instance.groups.values_list("name", flat=True)) if change else set()
        super().save_related(request, form, formsets, change)
        after = set(form.instance.groups.values_list("name", flat=True))
        if before != after:
            log_event(
                actor=request.user,
                obj=form.instance,
                what="roles_changed",
                request=request,
                changes={"groups": [sorted(before), sorted(after)]},
            )


# --- roles: a Group with its policy


class RolePolicyInline(admin.StackedInline):
    model = RolePolicy
    extra = 0
    max_num = 1
    can_delete = False
    fields = (
        "code",
        ("view_scope", "change_scope"),
        "field_levels",
        "interaction_kinds",
        ("can_export", "can_import", "can_merge", "can_erase"),
        ("can_view_audit", "can_transfer", "can_manage_access"),
    )

    def has_add_permission(self, request, obj=None):
        return is_role_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return is_role_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(RoleAdminOnlyMixin, BaseGroupAdmin):
    inlines = (RolePolicyInline,)
    list_display = ("name", "policy_code", "view_scope", "change_scope")

    @admin.display(description=_("code"))
    def policy_code(self, obj):
        return getattr(getattr(obj, "policy", None), "code", "")

    @admin.display(description=_("view scope"))
    def view_scope(self, obj):
        policy = getattr(obj, "policy", None)
        return policy.get_view_scope_display() if policy else ""

    @admin.display(description=_("change scope"))
    def change_scope(self, obj):
        policy = getattr(obj, "policy", None)
        return policy.get_change_scope_display() if policy else ""

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("policy")


@admin.register(RolePolicy)
class RolePolicyAdmin(RoleAdminOnlyMixin, admin.ModelAdmin):
    list_display = ("group", "code", "view_scope", "change_scope", "can_manage_access", "can_export")
    search_fields = ("code", "group__name")
    fields = RolePolicyInline.fields[:0] + ("group",) + RolePolicyInline.fields

    def has_delete_permission(self, request, obj=None):
        return False


# --- unit grants: created and revoked through services, never to one's own group


class UnitGrantForm(forms.ModelForm):
    class Meta:
        model = UnitGrant
        fields = ("group", "unit", "action", "include_subtree", "expires_at", "reason")

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean(self):
        data = super().clean()
        group = data.get("group") or (self.instance.group if self.instance.pk else None)
        user = getattr(self.request, "user", None)
        if group is not None and user is not None and user.groups.filter(pk=group.pk).exists():
            raise forms.ValidationError(_("You cannot grant access to a group you belong to."))
        if not (data.get("reason") or "").strip():
            self.add_error("reason", _("Please give a reason."))
        return data


@admin.register(UnitGrant)
class UnitGrantAdmin(RoleAdminOnlyMixin, admin.ModelAdmin):
    form = UnitGrantForm
    list_display = ("group", "unit", "action", "include_subtree", "expires_at", "granted_by", "reason", "created_at")
    list_filter = ("action", "include_subtree")
    search_fields = ("group__name", "unit__name", "reason")
    autocomplete_fields = ("unit",)
    readonly_fields = ("granted_by", "created_at")
    actions = ("revoke_selected",)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["group", "unit", "action", "include_subtree"]
        return fields

    def get_form(self, request, obj=None, **kwargs):
        form_class = super().get_form(request, obj, **kwargs)

        class RequestBound(form_class):
            def __init__(self, *args, **kw):
                super().__init__(*args, request=request, **kw)

        return RequestBound

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.unit_grant_update(
                grant=obj, changed_by=request.user, expires_at=data.get("expires_at"), reason=data.get("reason", "")
            )
        else:
            grant = services.unit_grant_create(
                group=data["group"],
                unit=data["unit"],
                action=data["action"],
                include_subtree=data["include_subtree"],
                expires_at=data.get("expires_at"),
                granted_by=request.user,
                reason=data.get("reason", ""),
            )
            obj.pk = grant.pk
            obj.created_at = grant.created_at

    def delete_model(self, request, obj):
        services.grant_revoke(grant=obj, revoked_by=request.user, reason="admin")

    def delete_queryset(self, request, queryset):
        for grant in queryset:
            services.grant_revoke(grant=grant, revoked_by=request.user, reason="admin")

    @admin.action(description=_("Revoke the selected unit grants"), permissions=["delete"])
    def revoke_selected(self, request, queryset):
        self.delete_queryset(request, queryset)


# --- read-only lists


class ShareListMixin(ReadOnlyMixin):
    list_select_related = True
    list_per_page = 50

    @admin.display(description=_("customer"), ordering="content_object__number")
    def customer_number(self, obj):
        return obj.content_object.number

    @admin.display(description=_("access"))
    def access(self, obj):
        return _("Change") if obj.permission.codename == "change_customer" else _("View")


@admin.register(CustomerUserShare)
class CustomerUserShareAdmin(ShareListMixin, admin.ModelAdmin):
    list_display = ("customer_number", "user", "access", "expires_at", "granted_by", "reason", "last_used_at")
    search_fields = ("user__username", "content_object__number")
    list_filter = ("permission__codename",)
    fields = ("customer_number", "user", "access", "expires_at", "granted_by", "reason", "created_at", "last_used_at")
    readonly_fields = fields


@admin.register(CustomerGroupShare)
class CustomerGroupShareAdmin(ShareListMixin, admin.ModelAdmin):
    list_display = ("customer_number", "group", "access", "expires_at", "granted_by", "reason", "last_used_at")
    search_fields = ("group__name", "content_object__number")
    list_filter = ("permission__codename",)
    fields = ("customer_number", "group", "access", "expires_at", "granted_by", "reason", "created_at", "last_used_at")
    readonly_fields = fields


@admin.register(UnmaskGrant)
class UnmaskGrantAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("customer_number", "user", "field_group", "expires_at", "granted_by", "reason", "last_used_at")
    search_fields = ("user__username", "customer__number")
    list_select_related = ("customer", "user", "granted_by")
    fields = list_display + ("created_at",)
    readonly_fields = fields

    @admin.display(description=_("customer"), ordering="customer__number")
    def customer_number(self, obj):
        return obj.customer.number


@admin.register(AccessRequest)
class AccessRequestAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("pk", "requester", "customer_number", "kind", "field_group", "status", "decided_by", "created_at")
    list_filter = ("status", "kind")
    search_fields = ("requester__username", "customer__number")
    list_select_related = ("customer", "requester", "decided_by")
    fields = (
        "requester",
        "customer_number",
        "kind",
        "field_group",
        "reason",
        "duration_days",
        "status",
        "decided_by",
        "decided_at",
        "decision_comment",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description=_("customer"), ordering="customer__number")
    def customer_number(self, obj):
        return obj.customer.number


# --- guardian: no object-permission editing for customers in the admin


@checks.register(checks.Tags.admin)
def customer_admin_is_not_guarded(app_configs=None, **kwargs):
    """sharing.E001: Customer registered with guardian's GuardedModelAdmin exposes object-permission
    editing (shares without expiry, reason or audit) to any staff user who may change customers."""
    from guardian.admin import GuardedModelAdminMixin

    from customers.models import Customer

    errors = []
    for site in [admin.site]:
        model_admin = site._registry.get(Customer)
        if model_admin is not None and isinstance(model_admin, GuardedModelAdminMixin):
            errors.append(
                checks.Error(
                    "Customer is registered with guardian's GuardedModelAdmin.",
                    hint="Use a plain ModelAdmin: customers are shared through sharing.services only.",
                    obj=type(model_admin),
                    id="sharing.E001",
                )
            )
    return errors
