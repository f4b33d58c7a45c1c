"""Admin of account teams, assignment rules and pool policies: reference data administrators maintain.

Only role administrators (superusers or the "administrator" role) change team roles, rules and pool
policies. Team memberships and the move log are read-only here: members are added and removed on the
360 page (their shares, audit and timeline entries come from the services).
"""

from django.contrib import admin

from customers.team_models import AccountTeamMember, AssignmentRule, CustomerMove, PoolPolicy, TeamRole
from sharing.selectors import is_role_admin


class RoleAdminOnly(admin.ModelAdmin):
    def has_view_permission(self, request, obj=None):
        return is_role_admin(request.user)

    def has_module_permission(self, request):
        return is_role_admin(request.user)

    def has_add_permission(self, request):
        return is_role_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return is_role_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_role_admin(request.user)


@admin.register(TeamRole)
class TeamRoleAdmin(RoleAdminOnly):
    list_display = ("code", "name", "position", "is_active")
    list_editable = ("position", "is_active")

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: members keep their role


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(RoleAdminOnly):
    list_display = ("name", "priority", "is_active", "target_unit", "strategy", "fired_count", "last_user")
    list_filter = ("is_active", "strategy")
    list_select_related = ("target_unit", "last_user")
    fields = (
        "name",
        "priority",
        "is_active",
        "provinces",
        "cities",
        "industries",
        "sources",
        "sizes",
        "target_unit",
        "strategy",
        "last_user",
        "fired_count",
    )
    readonly_fields = ("last_user", "fired_count")


@admin.register(PoolPolicy)
class PoolPolicyAdmin(RoleAdminOnly):
    list_display = ("unit", "inactive_days", "warn_days", "claim_limit", "cooldown_days", "is_enabled")
    list_select_related = ("unit",)


class ReadOnly(RoleAdminOnly):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccountTeamMember)
class AccountTeamMemberAdmin(ReadOnly):
    list_display = ("customer", "user", "team_role", "access", "created_at")
    list_select_related = ("customer", "user", "team_role")
    raw_id_fields = ("customer", "user")
    search_fields = ("=customer__number", "user__username")


@admin.register(CustomerMove)
class CustomerMoveAdmin(ReadOnly):
    list_display = ("created_at", "customer", "kind", "from_user", "to_user", "by")
    list_filter = ("kind",)
    list_select_related = ("customer", "from_user", "to_user", "by")
    search_fields = ("=customer__number",)
