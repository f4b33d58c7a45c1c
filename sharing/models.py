"""Who may see which customer, which parts of it, and for how long.

The org-unit tree, unit memberships, role policies (one per Django Group), explicit object shares
(django-guardian direct-FK models extended with expiry), unit grants for bulk access, unmask
grants, access requests and in-app notifications. Customer rows store only owner and org unit;
everything else about access lives here.
"""

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class OrgUnit(models.Model):
    """A node of the company tree: HQ → provinces → regions, plus dealers and departments.

    `path` is materialised ("/1/4/17/") so a subtree is one indexed prefix match.
    """

    class Kind(models.TextChoices):
        HQ = "hq", _("Headquarters")
        PROVINCE = "province", _("Province")
        REGION = "region", _("Region")
        DEALER = "dealer", _("Dealer")
        DEPARTMENT = "department", _("Department")

    name = models.CharField(_("name"), max_length=100)
    code = models.CharField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=255, editable=False, db_index=True, default="")
    depth = models.PositiveSmallIntegerField(editable=False, default=0)
    is_active = models.BooleanField(_("active"), default=True)
    pool_days = models.PositiveSmallIntegerField(
        _("days without follow-up before a customer returns to the pool"), default=30
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("org unit")
        verbose_name_plural = _("org units")
        ordering = ["path"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        """Keep `path`/`depth` right; re-parenting rewrites the descendants' paths in one UPDATE.

        Old and parent paths are read from the database, not from this (possibly stale) instance,
        so saving an instance loaded before an ancestor moved cannot write a wrong path.
        """
        with transaction.atomic():
            old_path = ""
            if self.pk:
                old_path = OrgUnit.objects.filter(pk=self.pk).values_list("path", flat=True).first() or ""
            parent_path = "/"
            if self.parent_id:
                parent_path = OrgUnit.objects.filter(pk=self.parent_id).values_list("path", flat=True).get()
                if old_path and parent_path.startswith(old_path):
                    raise ValidationError({"parent": _("A unit cannot be placed under itself.")})
            if old_path:
                self.path, self.depth = old_path, old_path.count("/") - 2
            super().save(*args, **kwargs)
            new_path = f"{parent_path}{self.pk}/"
            if new_path != old_path:
                depth = new_path.count("/") - 2
                OrgUnit.objects.filter(pk=self.pk).update(path=new_path, depth=depth)
                if old_path:
                    OrgUnit.objects.filter(path__startswith=old_path).exclude(pk=self.pk).update(
                        path=Concat(
                            Value(new_path), Substr("path", len(old_path) + 1), output_field=models.CharField()
                        ),
                        depth=F("depth") + (depth - (old_path.count("/") - 2)),
                    )
                self.path, self.depth = new_path, depth

    def clean(self):
        if self.pk and self.parent_id:
            node = self.parent
            while node is not None:
                if node.pk == self.pk:
                    raise ValidationError({"parent": _("A unit cannot be placed under itself.")})
                node = node.parent

    def subtree(self):
        return OrgUnit.objects.filter(path__startswith=self.path)

    def ancestors(self):
        ids = [int(x) for x in self.path.strip("/").split("/") if x]
        return OrgUnit.objects.filter(pk__in=ids).order_by("depth")


class Membership(models.Model):
    """A user's home unit. Managers approve access requests for their unit's people."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="membership"
    )
    unit = models.ForeignKey(OrgUnit, verbose_name=_("unit"), on_delete=models.PROTECT, related_name="memberships")
    is_manager = models.BooleanField(_("unit manager"), default=False)
    approval_delegate = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approval delegate"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="delegations",
        help_text=_("Approves access requests in this manager's place."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("unit membership")
        verbose_name_plural = _("unit memberships")

    def __str__(self):
        return f"{self.user} @ {self.unit}"


class Scope(models.TextChoices):
    NONE = "none", _("None")
    OWN = "own", _("Own records")
    UNIT = "unit", _("Own unit")
    SUBTREE = "subtree", _("Unit and sub-units")
    ALL = "all", _("Everything")


SCOPE_RANK = {Scope.NONE: 0, Scope.OWN: 1, Scope.UNIT: 2, Scope.SUBTREE: 3, Scope.ALL: 4}


class FieldLevel(models.IntegerChoices):
    HIDDEN = 0, _("Hidden")
    MASKED = 1, _("Masked")
    VISIBLE = 2, _("Visible")
    EDITABLE = 3, _("Editable")


class RolePolicy(models.Model):
    """What a role (a Django Group) may do: scope per action, field groups, interaction kinds."""

    group = models.OneToOneField(Group, verbose_name=_("role"), on_delete=models.CASCADE, related_name="policy")
    code = models.SlugField(_("code"), unique=True)
    view_scope = models.CharField(_("view scope"), max_length=10, choices=Scope.choices, default=Scope.OWN)
    change_scope = models.CharField(_("change scope"), max_length=10, choices=Scope.choices, default=Scope.OWN)
    field_levels = models.JSONField(
        _("field groups"), default=dict, blank=True, help_text=_('e.g. {"contact": 1, "finance": 0}')
    )
    interaction_kinds = models.JSONField(_("interaction kinds"), default=list, blank=True)
    can_export = models.BooleanField(_("may export"), default=False)
    can_import = models.BooleanField(_("may import"), default=False)
    can_merge = models.BooleanField(_("may merge duplicates"), default=False)
    can_erase = models.BooleanField(_("may erase personal data"), default=False)
    can_view_audit = models.BooleanField(_("may read the audit trail"), default=False)
    can_transfer = models.BooleanField(_("may transfer customers"), default=False)
    can_manage_access = models.BooleanField(_("may review and revoke access"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("role policy")
        verbose_name_plural = _("role policies")

    def __str__(self):
        return self.group.name

    def clean(self):
        from customers.field_groups import FIELD_GROUPS

        levels = self.field_levels or {}
        if not isinstance(levels, dict):
            raise ValidationError({"field_levels": _("Must be an object of field group to level.")})
        for key, value in levels.items():
            if key not in FIELD_GROUPS:
                raise ValidationError({"field_levels": _("Unknown field group: %(g)s") % {"g": key}})
            if value not in FieldLevel.values:
                raise ValidationError({"field_levels": _("Level must be 0 to 3.")})


class LiveQuerySet(models.QuerySet):
    def live(self, now=None):
        now = now or timezone.now()
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class ShareFields(models.Model):
    """Columns every share and grant carries: expiry, granter, reason, origin."""

    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True, db_index=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("granted by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    access_request = models.ForeignKey(
        "sharing.AccessRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LiveQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_live(self):
        return self.expires_at is None or self.expires_at > timezone.now()


class CustomerUserShare(ShareFields, UserObjectPermissionBase):
    """An explicit share of one customer with one user (guardian direct-FK model, with expiry)."""

    content_object = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="user_shares")
    last_used_at = models.DateTimeField(
        _("last used"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Last time this share was what let its holder open the customer (updated at most daily)."),
    )

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = _("customer share with a user")
        verbose_name_plural = _("customer shares with users")
        indexes = [models.Index(fields=["user", "content_object"], name="share_user_obj")]


class CustomerGroupShare(ShareFields, GroupObjectPermissionBase):
    """An explicit share of one customer with a group (guardian direct-FK model, with expiry)."""

    content_object = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="group_shares")
    last_used_at = models.DateTimeField(
        _("last used"),
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Last time this share was what let a member of the group open the customer (updated at most daily)."
        ),
    )

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = _("customer share with a group")
        verbose_name_plural = _("customer shares with groups")
        indexes = [models.Index(fields=["group", "content_object"], name="share_group_obj")]


class Action(models.TextChoices):
    VIEW = "view", _("View")
    CHANGE = "change", _("Change")


class UnitGrant(ShareFields):
    """Bulk access: a group sees (or changes) every customer of a unit (and its sub-units)."""

    group = models.ForeignKey(Group, verbose_name=_("group"), on_delete=models.CASCADE, related_name="unit_grants")
    unit = models.ForeignKey(OrgUnit, verbose_name=_("unit"), on_delete=models.CASCADE, related_name="grants")
    action = models.CharField(_("action"), max_length=10, choices=Action.choices, default=Action.VIEW)
    include_subtree = models.BooleanField(_("include sub-units"), default=True)

    class Meta:
        verbose_name = _("unit grant")
        verbose_name_plural = _("unit grants")

    def __str__(self):
        return f"{self.group} → {self.unit} ({self.action})"


class UnmaskGrant(ShareFields):
    """Lets one user see one customer's field group in clear until it expires."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="unmask_grants")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="unmask_grants")
    field_group = models.CharField(_("field group"), max_length=20)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("unmask grant")
        verbose_name_plural = _("unmask grants")
        indexes = [models.Index(fields=["user", "customer"], name="unmask_user_customer")]


class AccessRequest(models.Model):
    """A user asks for access to one customer; the requester's unit manager decides."""

    class Kind(models.TextChoices):
        VIEW = "view", _("View access")
        CHANGE = "change", _("Change access")
        UNMASK = "unmask", _("Unmask a field group")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requester"), on_delete=models.CASCADE, related_name="access_requests"
    )
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="access_requests"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    field_group = models.CharField(_("field group"), max_length=20, blank=True)
    reason = models.CharField(_("reason"), max_length=500)
    duration_days = models.PositiveSmallIntegerField(_("duration (days)"), default=7)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="access_decisions"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.CharField(_("comment"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("access request")
        verbose_name_plural = _("access requests")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.requester} → {self.customer_id} ({self.kind})"


class ReminderKind(models.TextChoices):
    """What a reminder is about. Users may mute each kind (ReminderMute)."""

    FOLLOWUP_DUE = "followup_due", _("Follow-ups due")
    PAYMENT_OVERDUE = "payment_overdue", _("Overdue payments")
    CONTRACT_RENEWAL = "contract_renewal", _("Contracts up for renewal")
    CASE_DUE_SOON = "case_due_soon", _("Service cases nearing their due date")
    CASE_OVERDUE = "case_overdue", _("Overdue service cases")
    ACCESS_REQUEST_PENDING = "access_request_pending", _("Access requests waiting for a decision")
    POOL_RETURN = "pool_return", _("Customers about to return to the public pool")
    CARE_TASK = "care_task", _("Customer care tasks")
    CAMPAIGN = "campaign", _("Campaigns")


class Notification(models.Model):
    """An in-app message to one user (access decisions, reminders).

    Reminders carry a `kind` and an `event_key` naming the event ("contract:12:2026-12-31"); the
    partial unique constraint makes a reminder exist at most once per user, kind and event, which
    is what keeps the beat jobs idempotent even when two workers race. The email columns record
    delivery: a failed email is retried and then left `failed` with its error, never dropped.
    """

    class EmailStatus(models.TextChoices):
        NONE = "", _("No email")
        PENDING = "pending", _("Email pending")
        SENT = "sent", _("Email sent")
        FAILED = "failed", _("Email failed")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(_("kind"), max_length=30, choices=ReminderKind.choices, blank=True)
    event_key = models.CharField(_("event"), max_length=200, blank=True)
    message = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    is_read = models.BooleanField(default=False, db_index=True)
    email_status = models.CharField(
        _("email"), max_length=10, choices=EmailStatus.choices, blank=True, default=EmailStatus.NONE
    )
    emailed_at = models.DateTimeField(_("emailed at"), null=True, blank=True)
    email_attempts = models.PositiveSmallIntegerField(_("email attempts"), default=0)
    email_error = models.CharField(_("last email error"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "event_key"],
                condition=~Q(event_key=""),
                name="notification_once_per_event",
            )
        ]

    def __str__(self):
        return self.message


class ReminderMute(models.Model):
    """A user does not want reminders of one kind (neither in the app nor by email)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminder_mutes")
    kind = models.CharField(_("kind"), max_length=30, choices=ReminderKind.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("muted reminder kind")
        verbose_name_plural = _("muted reminder kinds")
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="reminder_mute_once")]

    def __str__(self):
        return f"{self.user} mutes {self.kind}"
