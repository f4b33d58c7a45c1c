"""Account teams, assignment rules and the public pool (公海): the models.

Imported at the end of customers/models.py, so they belong to the customers app. Design and
trade-offs: docs/adr/0009-account-teams-and-pool.md; operator guide: docs/teams-and-pool.md.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

# The default team roles (seeded by migration 0006, editable by administrators in the admin site).
DEFAULT_TEAM_ROLES = {
    "sales_rep": gettext_noop("Sales rep"),
    "sales_manager": gettext_noop("Sales manager"),
    "channel_manager": gettext_noop("Channel manager"),
    "purchasing_manager": gettext_noop("Purchasing manager"),
    "service_engineer": gettext_noop("Service engineer"),
    "finance_contact": gettext_noop("Finance contact"),
}


def split_list(value: str) -> list[str]:
    """'广东, 北京，上海' → ['广东', '北京', '上海'] (ASCII and full-width commas, blanks dropped)."""
    return [part.strip() for part in (value or "").replace("，", ",").split(",") if part.strip()]


class TeamRole(models.Model):
    """A role a person plays in a customer's account team (sales rep, service engineer …)."""

    code = models.SlugField(_("code"), unique=True)
    name = models.CharField(_("name"), max_length=60)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True, help_text=_("Inactive roles cannot be chosen any more."))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("team role")
        verbose_name_plural = _("team roles")
        ordering = ["position", "code"]

    def __str__(self):
        return str(_(self.name))


class AccountTeamMember(models.Model):
    """A person in a customer's account team. The access comes from the share it owns.

    The membership owns one `sharing.CustomerUserShare` (view or change, same expiry): `visible_to`,
    the expiry task, the permission review and "who can see this and why" treat it like any share.
    Removing the member deletes the share; a share that expires (and is deleted by the beat task)
    or is revoked on the review page takes the membership with it (CASCADE).
    """

    class Access(models.TextChoices):
        VIEW = "view", _("View")
        CHANGE = "change", _("Change")

    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="team_members"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="account_teams"
    )
    team_role = models.ForeignKey(TeamRole, verbose_name=_("team role"), on_delete=models.PROTECT, related_name="+")
    access = models.CharField(_("access"), max_length=10, choices=Access.choices, default=Access.VIEW)
    share = models.OneToOneField(
        "sharing.CustomerUserShare", on_delete=models.CASCADE, related_name="team_membership", editable=False
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("account team member")
        verbose_name_plural = _("account team members")
        ordering = ["team_role__position", "created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["customer", "user"], name="team_member_once")]

    def __str__(self):
        return f"{self.user} in team of {self.customer_id} ({self.team_role_id})"

    @property
    def expires_at(self):
        return self.share.expires_at

    @property
    def is_live(self) -> bool:
        return self.share.is_live and self.user.is_active


class AssignmentRule(models.Model):
    """Who gets a customer that arrives without an owner: the first active rule (by priority) whose
    conditions all hold picks a unit, the strategy picks one of its active reps.

    Each condition is a comma-separated list (any value matches); an empty condition matches all.
    """

    class Strategy(models.TextChoices):
        ROUND_ROBIN = "round_robin", _("Round robin")
        LEAST_LOADED = "least_loaded", _("Least loaded (fewest active customers)")

    name = models.CharField(_("name"), max_length=100)
    priority = models.PositiveIntegerField(_("priority"), default=100, help_text=_("Lower numbers are tried first."))
    is_active = models.BooleanField(_("active"), default=True)
    provinces = models.CharField(_("provinces"), max_length=300, blank=True, help_text=_("e.g. 广东, 广西"))
    cities = models.CharField(_("cities"), max_length=300, blank=True, help_text=_("e.g. 深圳, 东莞"))
    industries = models.CharField(_("industries"), max_length=300, blank=True, help_text=_("e.g. 制造业, 零售"))
    sources = models.CharField(
        _("source channels"), max_length=200, blank=True, help_text=_("Source codes, e.g. web, import, channel")
    )
    sizes = models.CharField(_("company sizes"), max_length=100, blank=True, help_text=_("micro, small, medium, large"))
    target_unit = models.ForeignKey(
        "sharing.OrgUnit", verbose_name=_("assign to unit"), on_delete=models.PROTECT, related_name="+"
    )
    strategy = models.CharField(_("strategy"), max_length=20, choices=Strategy.choices, default=Strategy.ROUND_ROBIN)
    last_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("last assigned to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text=_("The round-robin cursor."),
    )
    fired_count = models.PositiveIntegerField(_("customers assigned"), default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("assignment rule")
        verbose_name_plural = _("assignment rules")
        ordering = ["priority", "pk"]

    def __str__(self):
        return self.name

    def clean(self):
        from customers.models import CompanyProfile, Customer

        bad = [s for s in split_list(self.sources) if s not in Customer.Source.values]
        if bad:
            raise ValidationError({"sources": _("Unknown source: %(s)s") % {"s": ", ".join(bad)}})
        bad = [s for s in split_list(self.sizes) if s not in CompanyProfile.Size.values]
        if bad:
            raise ValidationError({"sizes": _("Unknown size: %(s)s") % {"s": ", ".join(bad)}})

    def matches(self, *, province: str, city: str, industry: str, source: str, size: str) -> bool:
        def ok(allowed: str, value: str, prefix: bool = False) -> bool:
            wanted = split_list(allowed)
            if not wanted:
                return True
            value = (value or "").strip()
            if not value:
                return False
            # Province and city names are matched by prefix: "广东" matches "广东省", "深圳" "深圳市".
            return any(value == w or (prefix and value.startswith(w)) for w in wanted)

        return (
            ok(self.provinces, province, prefix=True)
            and ok(self.cities, city, prefix=True)
            and ok(self.industries, industry)
            and ok(self.sources, source)
            and ok(self.sizes, size)
        )


class PoolPolicy(models.Model):
    """When customers of a unit (and of its sub-units without a policy of their own) return to the pool,
    and how reps claim them back. A unit without a policy anywhere above it uses the defaults, with its
    own `pool_days` as the inactivity period."""

    unit = models.OneToOneField(
        "sharing.OrgUnit", verbose_name=_("unit"), on_delete=models.CASCADE, related_name="pool_policy"
    )
    inactive_days = models.PositiveSmallIntegerField(
        _("days without follow-up before returning to the pool"), default=30
    )
    warn_days = models.PositiveSmallIntegerField(_("warn the owner this many days before"), default=3)
    claim_limit = models.PositiveSmallIntegerField(
        _("claim limit per person"), default=20, help_text=_("Customers from the pool one person may hold at once.")
    )
    cooldown_days = models.PositiveSmallIntegerField(
        _("cool-down (days)"),
        default=30,
        help_text=_("A customer that fell back cannot be claimed again by its last owner."),
    )
    is_enabled = models.BooleanField(
        _("pool enabled"), default=True, help_text=_("Off: customers of this unit never return to the pool.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("pool policy")
        verbose_name_plural = _("pool policies")

    def __str__(self):
        return str(self.unit)

    def clean(self):
        if self.inactive_days < 1:
            raise ValidationError({"inactive_days": _("At least one day.")})
        if self.warn_days >= self.inactive_days:
            raise ValidationError({"warn_days": _("The warning must come before the return.")})


class CustomerMove(models.Model):
    """One change of who holds a customer or who is in its team: the pool's and the team's log.

    Shown on the customer's timeline (interactions.selectors.customer_timeline) and kept as history:
    the old owner of a reassigned customer stays here (`from_user`).
    """

    class Kind(models.TextChoices):
        RULE_ASSIGNED = "rule_assigned", _("Assigned by rule")
        REASSIGNED = "reassigned", _("Reassigned")
        POOL_WARNED = "pool_warned", _("Pool return announced")
        POOL_RETURNED = "pool_returned", _("Returned to the pool")
        POOL_CLAIMED = "pool_claimed", _("Claimed from the pool")
        POOL_ASSIGNED = "pool_assigned", _("Assigned from the pool")
        TEAM_ADDED = "team_added", _("Joined the account team")
        TEAM_REMOVED = "team_removed", _("Left the account team")

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="moves")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    unit = models.ForeignKey("sharing.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rule = models.ForeignKey(AssignmentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    note = models.CharField(_("note"), max_length=300, blank=True)
    # Idempotency of the nightly job: one warning / one return per customer and return date.
    event_key = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("ownership and team change")
        verbose_name_plural = _("ownership and team changes")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="customer_move_at")]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind", "event_key"],
                condition=~models.Q(event_key=""),
                name="customer_move_event_once",
            )
        ]

    def __str__(self):
        return f"{self.customer_id} {self.kind}"
