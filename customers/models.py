"""The customer master: one record per real customer that every department works on."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customers.querysets import CustomerQuerySet
from customers.validators import validate_credit_code


class CustomerRole(models.Model):
    """A role a customer plays for us; several at once (customer, debtor, supplier, …)."""

    code = models.SlugField(unique=True)
    name = models.CharField(_("name"), max_length=50)

    class Meta:
        verbose_name = _("customer role")
        verbose_name_plural = _("customer roles")
        ordering = ["code"]

    def __str__(self):
        return str(_(self.name))


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self):
        return self.name


class NumberSequence(models.Model):
    """Issues customer numbers. A row lock makes concurrent creators get distinct numbers."""

    name = models.CharField(max_length=30, unique=True)
    last_value = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.name}={self.last_value}"


class Customer(models.Model):
    """A company or a person. Stores only owner and org unit for access; see sharing/."""

    class Kind(models.TextChoices):
        COMPANY = "company", _("Company")
        PERSON = "person", _("Person")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")
        MERGED = "merged", _("Merged")
        ERASED = "erased", _("Erased")

    class Source(models.TextChoices):
        KEY_ACCOUNT = "key_account", _("Key-account sales")
        CHANNEL = "channel", _("Channel / dealer")
        SERVICE = "service", _("Service")
        WEB = "web", _("Web form")
        IMPORT = "import", _("Import")
        OTHER = "other", _("Other")

    number = models.CharField(_("customer number"), max_length=12, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=200)
    name_normalized = models.CharField(max_length=200, editable=False, db_index=True, default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
    )
    org_unit = models.ForeignKey(
        "sharing.OrgUnit",
        verbose_name=_("org unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    roles = models.ManyToManyField(CustomerRole, verbose_name=_("roles"), blank=True, related_name="customers")
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="customers")
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, default=Source.OTHER)
    province = models.CharField(_("province"), max_length=30, blank=True, db_index=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    quality_score = models.PositiveSmallIntegerField(_("data quality"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from", editable=False
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    # Ownership and the public pool (customers/pool.py, customers/assignment.py): a pooled customer
    # has no owner and keeps its org unit; `owner_via` says how the owner got it ("claim" counts
    # towards the claim limit); `assignment_rule` is the rule that fired when it arrived without one.
    pooled_at = models.DateTimeField(_("in the pool since"), null=True, blank=True, editable=False)
    owner_since = models.DateTimeField(_("owner since"), null=True, blank=True, editable=False)
    owner_via = models.CharField(_("owner by"), max_length=10, blank=True, editable=False)
    assignment_rule = models.ForeignKey(
        "customers.AssignmentRule",
        verbose_name=_("assignment rule"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    assigned_at = models.DateTimeField(_("assigned by rule at"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [
            models.Index(fields=["owner", "-updated_at"], name="customer_owner_upd"),
            models.Index(fields=["org_unit", "-updated_at"], name="customer_unit_upd"),
            # The list's capped count of a unit scope, index-only (customers/list_plan.py).
            models.Index(fields=["org_unit"], name="customer_unit_live", condition=~Q(status__in=["merged", "erased"])),
            models.Index(
                fields=["org_unit", "pooled_at"], name="customer_pooled", condition=Q(pooled_at__isnull=False)
            ),
        ]

    def __str__(self):
        return f"{self.number} {self.name}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("customers:detail", args=[self.pk])

    @property
    def is_company(self):
        return self.kind == self.Kind.COMPANY


class CompanyProfile(models.Model):
    class Size(models.TextChoices):
        MICRO = "micro", _("1–9")
        SMALL = "small", _("10–99")
        MEDIUM = "medium", _("100–999")
        LARGE = "large", _("1000+")

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="company")
    industry = models.CharField(_("industry"), max_length=60, blank=True)
    credit_code = models.CharField(
        _("unified social credit code"), max_length=18, blank=True, db_index=True, validators=[validate_credit_code]
    )
    founded_on = models.DateField(_("founded on"), null=True, blank=True)
    size = models.CharField(_("size"), max_length=10, choices=Size.choices, blank=True)
    website = models.URLField(_("website"), blank=True)
    registered_address = models.CharField(_("registered address"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("company profile")

    def __str__(self):
        return f"company profile of {self.customer_id}"


class PersonProfile(models.Model):
    class Gender(models.TextChoices):
        FEMALE = "f", _("Female")
        MALE = "m", _("Male")
        OTHER = "x", _("Other / not stated")

    class Marital(models.TextChoices):
        SINGLE = "single", _("Single")
        MARRIED = "married", _("Married")
        OTHER = "other", _("Other")

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="person")
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    marital_status = models.CharField(_("marital status"), max_length=10, choices=Marital.choices, blank=True)
    title = models.CharField(_("title"), max_length=60, blank=True)
    id_number = models.CharField(_("ID number"), max_length=18, blank=True, db_index=True)

    class Meta:
        verbose_name = _("person profile")

    def __str__(self):
        return f"person profile of {self.customer_id}"


class ContactPoint(models.Model):
    """One way to reach a customer. `normalized` is the match key (E.164 phones, lowercased emails)."""

    class Kind(models.TextChoices):
        MOBILE = "mobile", _("Mobile")
        LANDLINE = "landline", _("Landline")
        EMAIL = "email", _("Email")
        ADDRESS = "address", _("Address")
        WECHAT = "wechat", _("WeChat")
        QQ = "qq", _("QQ")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contact_points")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    value = models.CharField(_("value"), max_length=200)
    normalized = models.CharField(max_length=200, editable=False, default="")
    province = models.CharField(_("province"), max_length=30, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    district = models.CharField(_("district"), max_length=50, blank=True)
    postcode = models.CharField(_("postcode"), max_length=10, blank=True)
    is_primary = models.BooleanField(_("primary"), default=False)
    is_valid = models.BooleanField(_("valid"), default=True)
    marketing_consent = models.BooleanField(_("marketing consent"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("contact point")
        verbose_name_plural = _("contact points")
        ordering = ["kind", "-is_primary", "pk"]
        indexes = [models.Index(fields=["normalized", "kind"], name="contact_norm_kind")]

    def __str__(self):
        # Masked: str() ends up in audit-log object_repr and admin pages, which must not hold the value.
        from sharing.masking import mask_contact

        return f"{self.kind}: {mask_contact(self.kind, self.value)}"

    @property
    def is_phone(self):
        return self.kind in (self.Kind.MOBILE, self.Kind.LANDLINE)


class Relationship(models.Model):
    """A typed, directional link between two customers, shown from both sides."""

    class Kind(models.TextChoices):
        EMPLOYS = "employs", _("employs")
        HOLDS = "holds", _("holds shares in")
        PARENT_OF = "parent_of", _("is parent of")
        SPOUSE_OF = "spouse_of", _("is spouse of")
        RELATED = "related", _("is related to")

    REVERSE_LABELS = {
        Kind.EMPLOYS: _("works for"),
        Kind.HOLDS: _("is held by"),
        Kind.PARENT_OF: _("is child of"),
        Kind.SPOUSE_OF: _("is spouse of"),
        Kind.RELATED: _("is related to"),
    }

    from_customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="relationships_out")
    to_customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="relationships_in")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    share_percent = models.DecimalField(_("share %"), max_digits=5, decimal_places=2, null=True, blank=True)
    title = models.CharField(_("position / note"), max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("relationship")
        verbose_name_plural = _("relationships")
        constraints = [
            models.UniqueConstraint(fields=["from_customer", "to_customer", "kind"], name="relationship_unique"),
            models.CheckConstraint(condition=~Q(from_customer=models.F("to_customer")), name="relationship_not_self"),
        ]

    def __str__(self):
        return f"{self.from_customer_id} {self.kind} {self.to_customer_id}"

    def clean(self):
        if self.from_customer_id and self.from_customer_id == self.to_customer_id:
            raise ValidationError(_("A customer cannot have a relationship with itself."))
        if self.kind == self.Kind.HOLDS and self.share_percent is not None and not (0 < self.share_percent <= 100):
            raise ValidationError({"share_percent": _("Share must be between 0 and 100%.")})

    def label_for(self, viewer_side_customer_id):
        """The label as read from one side: 'employs' from the company, 'works for' from the person."""
        if viewer_side_customer_id == self.from_customer_id:
            return self.get_kind_display()
        return self.REVERSE_LABELS[self.kind]


# --- Import / export / privacy (customers/io) ------------------------------------------------------
# Owned by the import/export engineer: the pipeline lives in customers/io/, see docs/adr/0007.


class ImportJobManager(models.Manager):
    """Never loads the uploaded file unless asked for (`values_list("content")`): jobs are locked and
    re-read once per chunk, and the file may be 50 MB."""

    def get_queryset(self):
        return super().get_queryset().defer("content")


class ImportJob(models.Model):
    """One uploaded file on its way in: mapping, preview, decisions, chunked run and report.

    The file itself is kept in the row (not on a shared disk) so any worker can resume the job, and is
    dropped when the job finishes; the rejected rows live on in ImportRow for the download.
    `processed_rows` counts data rows whose outcome is committed: a chunk's ImportRow rows, its
    customers and this counter are written in one transaction, so a rerun continues exactly there.
    """

    class Status(models.TextChoices):
        MAPPING = "mapping", _("Needs column mapping")
        ANALYSING = "analysing", _("Checking rows")
        PREVIEW = "preview", _("Ready for review")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Finished")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("imported by"), on_delete=models.PROTECT, related_name="import_jobs"
    )
    filename = models.CharField(_("file name"), max_length=255)
    file_format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    size = models.PositiveBigIntegerField(_("size in bytes"), default=0)
    content = models.BinaryField(editable=False, null=True)
    headers = models.JSONField(default=list, blank=True)
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    decisions = models.JSONField(_("decisions"), default=dict, blank=True)
    analysis = models.JSONField(default=dict, blank=True, editable=False)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.MAPPING)
    message = models.TextField(_("message"), blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    merged_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ImportJobManager()

    class Meta:
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"import {self.pk} {self.filename}"

    @property
    def accounted_rows(self) -> int:
        return self.created_count + self.merged_count + self.skipped_count + self.rejected_count

    @property
    def percent(self) -> int:
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0


class ImportRow(models.Model):
    """The committed outcome of one data row of an import (unique per job and row: reruns never repeat it).

    `values` keeps the row as read only for rejected and skipped rows (for the rejected-rows file);
    created and merged rows point at their customer instead.
    """

    class Outcome(models.TextChoices):
        CREATED = "created", _("Created")
        MERGED = "merged", _("Merged")
        SKIPPED = "skipped", _("Skipped")
        REJECTED = "rejected", _("Rejected")

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    row_number = models.PositiveIntegerField(_("row"))
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(_("reason"), blank=True)
    values = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("import row")
        verbose_name_plural = _("import rows")
        ordering = ["job", "row_number"]
        constraints = [models.UniqueConstraint(fields=["job", "row_number"], name="import_row_once")]
        indexes = [models.Index(fields=["job", "outcome", "row_number"], name="import_row_outcome")]

    def __str__(self):
        return f"{self.job_id}:{self.row_number} {self.outcome}"


class ExportLog(models.Model):
    """One export of the customer list: who, which filter, how many rows, which format."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="customer_exports")
    file_format = models.CharField(max_length=4)
    filters = models.JSONField(default=dict, blank=True)
    row_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("customer export")
        verbose_name_plural = _("customer exports")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"export {self.pk} by {self.user_id} ({self.row_count})"


class PrivacyRequest(models.Model):
    """A personal-data request (PIPL/GDPR) about one person and who carried it out.

    Keeps the customer number, never the person's data: after an erasure this row and the
    anonymised customer are what remains.
    """

    class Kind(models.TextChoices):
        EXPORT = "export", _("Personal-data export")
        ERASE = "erase", _("Erasure")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    customer_number = models.CharField(_("customer number"), max_length=12)
    reason = models.CharField(_("reason / reference"), max_length=300, blank=True)
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("carried out by"), on_delete=models.PROTECT, related_name="+"
    )
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("personal-data request")
        verbose_name_plural = _("personal-data requests")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.kind} {self.customer_number}"


# Account teams, assignment rules and the public pool live in their own module (same app).
from customers.team_models import (  # noqa: E402, F401
    AccountTeamMember,
    AssignmentRule,
    CustomerMove,
    PoolPolicy,
    TeamRole,
)
