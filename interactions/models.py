"""What happens with a customer: activities and follow-ups, the sales chain, service cases.

Every record belongs to one customer and inherits that customer's visibility; on top of it each
model names its record kind (`KIND`, the names of sharing/roles.py) so a role sees only the kinds
its policy lists (finance: payments; service: activities and service cases; sales: the chain).
Rules about one row live here (constraints, `clean`); workflows live in interactions/services.py.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from interactions.querysets import (
    ActivityQuerySet,
    KindQuerySet,
    OpportunityQuerySet,
    PaymentQuerySet,
    ServiceCaseQuerySet,
)

# Service levels: days from receipt to the due date of a service case, per severity. Override with
# settings.INTERACTIONS_SERVICE_LEVEL_DAYS = {"normal": 7, "major": 2}.
DEFAULT_SERVICE_LEVEL_DAYS = {"normal": 7, "major": 2}


def service_level_days(severity: str) -> int:
    table = {**DEFAULT_SERVICE_LEVEL_DAYS, **getattr(settings, "INTERACTIONS_SERVICE_LEVEL_DAYS", {})}
    return int(table.get(severity, table["normal"]))


class Currency(models.TextChoices):
    CNY = "CNY", _("Renminbi (CNY)")
    USD = "USD", _("US dollar (USD)")
    EUR = "EUR", _("Euro (EUR)")
    HKD = "HKD", _("Hong Kong dollar (HKD)")


AMOUNT = {"max_digits": 14, "decimal_places": 2}


class CustomerCopies(models.Model):
    """The customer's org unit and owner, copied onto the record by database triggers.

    Never written by Python (interactions/copies.py, ADR 0017): the triggers set them from the
    customer row on every insert and change of `customer_id`, and follow every change of the
    customer's unit or owner. `visible_to` filters on them so a unit scope does not read its
    customers to find their records. Plain integers, not foreign keys: a copy, not a relation.
    """

    cust_org_unit_id = models.IntegerField(null=True, editable=False)
    cust_owner_id = models.IntegerField(null=True, editable=False)

    class Meta:
        abstract = True


class Activity(CustomerCopies):
    """A call, visit, email, meeting, message or note, with an optional follow-up date."""

    KIND = "activity"
    # Lists of follow-ups filter by person and walk a due-date index: visible_to checks the
    # customer copies per row there instead of a BitmapOr (interactions/querysets.py).
    VISIBILITY_PER_ROW = True

    class Kind(models.TextChoices):
        CALL = "call", _("Call")
        VISIT = "visit", _("Visit")
        EMAIL = "email", _("Email")
        MEETING = "meeting", _("Meeting")
        MESSAGE = "message", _("Message")
        NOTE = "note", _("Note")

    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="activities"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.CALL)
    subject = models.CharField(_("subject"), max_length=200)
    notes = models.TextField(_("notes"), blank=True)
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="activities",
    )
    follow_up_on = models.DateField(_("next follow-up"), null=True, blank=True)
    follow_up_done = models.BooleanField(_("follow-up done"), default=False)
    follow_up_done_at = models.DateTimeField(_("follow-up done at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ActivityQuerySet.as_manager()

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["-occurred_at", "-pk"]
        indexes = [
            models.Index(fields=["customer", "-occurred_at"], name="activity_customer_at"),
            models.Index(
                fields=["user", "follow_up_on"],
                name="activity_open_followups",
                condition=Q(follow_up_on__isnull=False, follow_up_done=False),
            ),
            # A broad team's follow-ups (an executive's: everyone's) in list order: the page walks
            # this index and stops after 50 rows (371 -> 3.5 ms at 3.5M activities), the due/overdue
            # counts read it index-only (236 -> 70 ms).
            # With the customer copies included, a manager's team walk checks visibility index-only.
            models.Index(
                fields=["follow_up_on", "occurred_at", "id"],
                include=["user", "customer", "cust_org_unit_id", "cust_owner_id"],
                name="activity_followups_due",
                condition=Q(follow_up_on__isnull=False, follow_up_done=False),
            ),
            # The unit and owner terms of visibility on open follow-ups (ADR 0017).
            models.Index(
                fields=["cust_org_unit_id", "follow_up_on"],
                name="activity_unit_followups",
                condition=Q(follow_up_on__isnull=False, follow_up_done=False),
            ),
            models.Index(
                fields=["cust_owner_id", "follow_up_on"],
                name="activity_owner_followups",
                condition=Q(follow_up_on__isnull=False, follow_up_done=False),
            ),
        ]

    def __str__(self):
        return self.subject

    @property
    def has_open_follow_up(self) -> bool:
        return self.follow_up_on is not None and not self.follow_up_done


class Opportunity(CustomerCopies):
    """A possible sale: lead → qualified → proposal → negotiation → won / lost (with a reason)."""

    KIND = "opportunity"

    class Stage(models.TextChoices):
        LEAD = "lead", _("Lead")
        QUALIFIED = "qualified", _("Qualified")
        PROPOSAL = "proposal", _("Proposal")
        NEGOTIATION = "negotiation", _("Negotiation")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    OPEN_STAGES = (Stage.LEAD, Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION)
    CLOSED_STAGES = (Stage.WON, Stage.LOST)
    DEFAULT_PROBABILITY = {"lead": 10, "qualified": 25, "proposal": 50, "negotiation": 75, "won": 100, "lost": 0}

    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="opportunities"
    )
    name = models.CharField(_("name"), max_length=200)
    stage = models.CharField(_("stage"), max_length=12, choices=Stage.choices, default=Stage.LEAD, db_index=True)
    amount = models.DecimalField(_("amount"), **AMOUNT, default=0)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.CNY)
    expected_close_on = models.DateField(_("expected close date"), null=True, blank=True)
    probability = models.PositiveSmallIntegerField(_("probability (%)"), default=10)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="opportunities",
    )
    close_reason = models.CharField(_("reason"), max_length=300, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # The campaign this opportunity came from: campaign results count its won amount as revenue.
    campaign = models.ForeignKey(
        "interactions.Campaign",
        verbose_name=_("campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="opportunities",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OpportunityQuerySet.as_manager()

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        ordering = ["-updated_at", "-pk"]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="opportunity_customer_at"),
            models.Index(fields=["owner", "stage"], name="opportunity_owner_stage"),
            # The unit and owner terms of visibility, in list order (ADR 0017).
            models.Index(fields=["cust_org_unit_id", "expected_close_on"], name="opportunity_unit_close"),
            models.Index(fields=["cust_owner_id", "expected_close_on"], name="opportunity_owner_close"),
            # The list's whole order, for the "all" and "team" scopes: without it an executive's page
            # joined and sorted all 500,000 opportunities (1.3 s on the 1M seed).
            models.Index(fields=["expected_close_on", "-updated_at", "-id"], name="opportunity_list_order"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="opportunity_amount_nonneg"),
            models.CheckConstraint(condition=Q(probability__lte=100), name="opportunity_probability_pct"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("interactions:opportunity_detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.stage in self.OPEN_STAGES


class Document(models.Model):
    """Furniture of every sales document: a number (prefix + year + sequence), customer, creator."""

    NUMBER_PREFIX = ""
    # status → statuses it may move to (document_transition); statuses absent here are final.
    TRANSITIONS: dict[str, tuple[str, ...]] = {}
    # statuses from which no follow-up document may be created
    DEAD_STATUSES: tuple[str, ...] = ()

    number = models.CharField(_("number"), max_length=20, unique=True, editable=False)
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="%(class)ss"
    )
    note = models.TextField(_("note"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = KindQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.number

    def get_absolute_url(self):
        return reverse(f"interactions:{self.KIND}_detail", args=[self.pk])

    def next_statuses(self) -> tuple[str, ...]:
        return self.TRANSITIONS.get(self.status, ())


class Quote(Document):
    KIND = "quote"
    NUMBER_PREFIX = "Q"

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SENT = "sent", _("Sent")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Cancelled")

    TRANSITIONS = {"draft": ("sent", "cancelled"), "sent": ("accepted", "rejected", "expired")}
    DEAD_STATUSES = ("rejected", "expired", "cancelled")

    opportunity = models.ForeignKey(
        Opportunity, verbose_name=_("opportunity"), on_delete=models.PROTECT, related_name="quotes"
    )
    amount = models.DecimalField(_("amount"), **AMOUNT)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.CNY)
    issued_on = models.DateField(_("issued on"), default=timezone.localdate)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)

    class Meta(Document.Meta):
        verbose_name = _("quote")
        verbose_name_plural = _("quotes")
        indexes = [models.Index(fields=["customer", "-created_at"], name="quote_customer_at")]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="quote_amount_nonneg")]

    def clean(self):
        if self.valid_until and self.issued_on and self.valid_until < self.issued_on:
            raise ValidationError({"valid_until": _("A quote cannot expire before it is issued.")})


class Contract(Document):
    """A signed contract; start and end dates drive renewal reminders."""

    KIND = "contract"
    NUMBER_PREFIX = "CT"

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        TERMINATED = "terminated", _("Terminated")
        CANCELLED = "cancelled", _("Cancelled")

    TRANSITIONS = {"draft": ("active", "cancelled"), "active": ("completed", "terminated")}
    DEAD_STATUSES = ("terminated", "cancelled")

    quote = models.ForeignKey(Quote, verbose_name=_("quote"), on_delete=models.PROTECT, related_name="contracts")
    amount = models.DecimalField(_("amount"), **AMOUNT)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.CNY)
    signed_on = models.DateField(_("signed on"), null=True, blank=True)
    start_on = models.DateField(_("start date"))
    end_on = models.DateField(_("end date"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)

    class Meta(Document.Meta):
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="contract_customer_at"),
            models.Index(fields=["end_on"], name="contract_end_on"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="contract_amount_nonneg"),
            models.CheckConstraint(condition=Q(end_on__gte=models.F("start_on")), name="contract_end_after_start"),
        ]

    def clean(self):
        if self.start_on and self.end_on and self.end_on < self.start_on:
            raise ValidationError({"end_on": _("The end date must not be before the start date.")})


class Order(Document):
    KIND = "order"
    NUMBER_PREFIX = "SO"

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        SHIPPED = "shipped", _("Shipped")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    TRANSITIONS = {"open": ("shipped", "cancelled"), "shipped": ("completed",)}
    DEAD_STATUSES = ("cancelled",)

    contract = models.ForeignKey(Contract, verbose_name=_("contract"), on_delete=models.PROTECT, related_name="orders")
    amount = models.DecimalField(_("amount"), **AMOUNT)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.CNY)
    ordered_on = models.DateField(_("ordered on"), default=timezone.localdate)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)

    class Meta(Document.Meta):
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        indexes = [models.Index(fields=["customer", "-created_at"], name="order_customer_at")]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="order_amount_nonneg")]


class Shipment(Document):
    KIND = "shipment"
    NUMBER_PREFIX = "SH"

    class Status(models.TextChoices):
        PREPARED = "prepared", _("Prepared")
        SHIPPED = "shipped", _("Shipped")
        DELIVERED = "delivered", _("Delivered")

    TRANSITIONS = {"prepared": ("shipped",), "shipped": ("delivered",)}

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="shipments")
    shipped_on = models.DateField(_("shipped on"), null=True, blank=True)
    delivered_on = models.DateField(_("delivered on"), null=True, blank=True)
    carrier = models.CharField(_("carrier"), max_length=100, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PREPARED)

    class Meta(Document.Meta):
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        indexes = [models.Index(fields=["customer", "-created_at"], name="shipment_customer_at")]

    def clean(self):
        if self.shipped_on and self.delivered_on and self.delivered_on < self.shipped_on:
            raise ValidationError({"delivered_on": _("A shipment cannot be delivered before it is shipped.")})


class Payment(Document, CustomerCopies):
    """An expected or received payment against a contract (optionally a specific order).

    Open until paid; overdue when open after its due date. The sum of a contract's payments may
    exceed the contract amount only with an override note (services.payment_record).
    """

    KIND = "payment"
    NUMBER_PREFIX = "PM"

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PAID = "paid", _("Paid")
        CANCELLED = "cancelled", _("Cancelled")

    TRANSITIONS = {"open": ("cancelled",)}

    contract = models.ForeignKey(
        Contract, verbose_name=_("contract"), on_delete=models.PROTECT, related_name="payments"
    )
    order = models.ForeignKey(
        Order, verbose_name=_("order"), null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    amount = models.DecimalField(_("amount"), **AMOUNT)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.CNY)
    due_on = models.DateField(_("due date"))
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    override_note = models.CharField(_("override note"), max_length=300, blank=True)

    objects = PaymentQuerySet.as_manager()

    class Meta(Document.Meta):
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="payment_customer_at"),
            models.Index(fields=["status", "due_on"], name="payment_status_due"),
            # The unit and owner terms of visibility on open payments, in list order (ADR 0017).
            models.Index(fields=["cust_org_unit_id", "due_on"], condition=Q(status="open"), name="payment_unit_open"),
            models.Index(fields=["cust_owner_id", "due_on"], condition=Q(status="open"), name="payment_owner_open"),
        ]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_nonneg")]

    @property
    def is_overdue(self) -> bool:
        return self.status == self.Status.OPEN and self.due_on < timezone.localdate()


class ServiceCase(CustomerCopies):
    """A request, complaint or feedback from a customer and its handling.

    Complaints follow the full workflow (received → assessed → classified → responsibility
    assigned → solution drafted → solution carried out → result reported → closed); requests and
    feedback go straight from received to closed with an optional resolution. A closed case can
    be reopened (to assessed or received) with a reason. See services.case_* and ADR 0005.
    """

    KIND = "service_case"
    NUMBER_PREFIX = "SC"

    class Type(models.TextChoices):
        REQUEST = "request", _("Request")
        COMPLAINT = "complaint", _("Complaint")
        FEEDBACK = "feedback", _("Feedback")

    class Category(models.TextChoices):
        PRODUCT_QUALITY = "product_quality", _("Product quality")
        SERVICE = "service", _("Service")
        PRICE = "price", _("Price")
        CONTRACT = "contract", _("Contract")
        POLICY = "policy", _("Policy")
        OTHER = "other", _("Other")

    class Severity(models.TextChoices):
        NORMAL = "normal", _("Normal")
        MAJOR = "major", _("Major")

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        ASSESSED = "assessed", _("Assessed")
        CLASSIFIED = "classified", _("Classified")
        ASSIGNED = "assigned", _("Responsibility assigned")
        SOLUTION_DRAFTED = "solution_drafted", _("Solution drafted")
        SOLUTION_DONE = "solution_done", _("Solution carried out")
        RESULT_REPORTED = "result_reported", _("Result reported to the customer")
        CLOSED = "closed", _("Closed")

    COMPLAINT_FLOW = (
        Status.RECEIVED,
        Status.ASSESSED,
        Status.CLASSIFIED,
        Status.ASSIGNED,
        Status.SOLUTION_DRAFTED,
        Status.SOLUTION_DONE,
        Status.RESULT_REPORTED,
        Status.CLOSED,
    )
    SHORT_FLOW = (Status.RECEIVED, Status.CLOSED)
    # What the button that takes a case to each step says.
    STEP_ACTIONS = {
        Status.ASSESSED: _("Record the assessment"),
        Status.CLASSIFIED: _("Classify"),
        Status.ASSIGNED: _("Assign responsibility"),
        Status.SOLUTION_DRAFTED: _("Save the solution draft"),
        Status.SOLUTION_DONE: _("Mark the solution carried out"),
        Status.RESULT_REPORTED: _("Record the result reported to the customer"),
        Status.CLOSED: _("Close the case"),
    }
    REOPEN_TARGETS = {"complaint": (Status.ASSESSED, Status.RECEIVED), "request": (Status.RECEIVED,)}

    number = models.CharField(_("number"), max_length=20, unique=True, editable=False)
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="service_cases"
    )
    type = models.CharField(_("type"), max_length=10, choices=Type.choices, default=Type.COMPLAINT)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices, default=Category.OTHER)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices, default=Severity.NORMAL)
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.RECEIVED)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    due_at = models.DateTimeField(_("due"))
    assessment = models.TextField(_("assessment"), blank=True)
    responsible_units = models.ManyToManyField(
        "sharing.OrgUnit", verbose_name=_("responsible units"), blank=True, related_name="service_cases"
    )
    responsible_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("responsible person"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="responsible_cases",
    )
    solution = models.TextField(_("solution"), blank=True)
    result = models.TextField(_("result reported to the customer"), blank=True)
    resolution = models.TextField(_("resolution"), blank=True)
    satisfaction = models.PositiveSmallIntegerField(_("satisfaction (1–5)"), null=True, blank=True)
    recommend = models.PositiveSmallIntegerField(_("likelihood to recommend (0–10)"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    reopen_count = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ServiceCaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("service case")
        verbose_name_plural = _("service cases")
        ordering = ["-received_at", "-pk"]
        indexes = [
            models.Index(fields=["customer", "-received_at"], name="case_customer_at"),
            models.Index(fields=["status", "due_at"], name="case_status_due"),
            # Open cases by due date (the workbench's list and badges walk it and stop early;
            # "status <> closed" cannot use case_status_due).
            # In list order, with the customer and its owner copy: a big share's walk checks them and
            # picks a page's ids index-only (selectors.KeysFirst).
            models.Index(
                fields=["due_at", "id"],
                include=["customer", "cust_owner_id"],
                condition=~Q(status="closed"),
                name="case_open_due",
            ),
            # The unit and owner terms of visibility, in list order (ADR 0017).
            models.Index(fields=["cust_org_unit_id", "due_at"], condition=~Q(status="closed"), name="case_unit_open"),
            models.Index(fields=["cust_owner_id", "due_at"], condition=~Q(status="closed"), name="case_owner_open"),
            models.Index(fields=["cust_org_unit_id", "-received_at"], name="case_unit_received"),
            models.Index(fields=["cust_owner_id", "-received_at"], name="case_owner_received"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(satisfaction__isnull=True) | Q(satisfaction__gte=1, satisfaction__lte=5),
                name="case_satisfaction_1_5",
            ),
            models.CheckConstraint(
                condition=Q(recommend__isnull=True) | Q(recommend__lte=10), name="case_recommend_0_10"
            ),
        ]

    def __str__(self):
        return f"{self.number} {self.subject}"

    def get_absolute_url(self):
        return reverse("interactions:case_detail", args=[self.pk])

    @property
    def flow(self) -> tuple[str, ...]:
        return self.COMPLAINT_FLOW if self.type == self.Type.COMPLAINT else self.SHORT_FLOW

    @property
    def next_status(self) -> str | None:
        """The one step that may follow the current status (None when closed)."""
        flow = self.flow
        if self.status not in flow or self.status == self.Status.CLOSED:
            return None
        return flow[flow.index(self.status) + 1]

    @property
    def reopen_targets(self) -> tuple[str, ...]:
        if self.status != self.Status.CLOSED:
            return ()
        return self.REOPEN_TARGETS.get(self.type, (self.Status.RECEIVED,))

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.CLOSED

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.due_at < timezone.now()

    def compute_due_at(self):
        return self.received_at + timedelta(days=service_level_days(self.severity))


class CaseEvent(models.Model):
    """One step of a service case's history: who moved it from where to where, and why."""

    case = models.ForeignKey(ServiceCase, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["created_at", "pk"]

    def __str__(self):
        return f"{self.case_id}: {self.from_status} → {self.to_status}"

    def get_to_status_display(self):
        return ServiceCase.Status(self.to_status).label if self.to_status in ServiceCase.Status.values else ""


# Care rules and campaigns live in their own module to keep this one readable.
from interactions.campaign_models import (  # noqa: E402, F401
    Campaign,
    CampaignParticipation,
    CareRule,
    CareRun,
    CareTouch,
)
