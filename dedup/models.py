"""Duplicate detection in the database: match keys, candidate pairs, jobs, the merge journal, quality.

The pure matching engine lives in `dedup/normalize.py` and `dedup/matching.py`; this module keeps
what it needs to work at 1M customers (an indexed key table for equality joins), what it finds
(candidate pairs with their explanation and the steward's decision), how the batch work is split
and resumed (jobs and chunks), and what a merge changed (a journal that makes unmerge exact).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from dedup.querysets import CandidatePairQuerySet, DedupJobQuerySet, MergeJournalQuerySet


class MatchKey(models.Model):
    """One blocking key of one customer ("p:+8613800138000", "e:x@y.com", "c:…", "i:…", "n:…").

    Candidates for a record are the customers sharing at least one key: an equality lookup on the
    `key` index, never a scan. Rebuilt for a customer whenever it, a profile or a contact point is
    saved (dedup.services.match_keys_refresh). `created_at` has a database default so bulk loaders
    (COPY) may leave it out; the incremental job uses it to find customers whose keys changed.
    """

    # No index of its own: the unique (customer, key) constraint serves lookups by customer.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="match_keys", db_index=False
    )
    key = models.CharField(max_length=200)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        verbose_name = _("match key")
        verbose_name_plural = _("match keys")
        constraints = [models.UniqueConstraint(fields=["customer", "key"], name="matchkey_customer_key")]
        # (key, customer) makes candidate lookups index-only; created_at serves the incremental job.
        indexes = [
            models.Index(fields=["key", "customer"], name="matchkey_key_customer"),
            models.Index(fields=["created_at"], name="matchkey_created"),
        ]

    def __str__(self):
        return f"{self.customer_id} {self.key}"


class CandidatePair(models.Model):
    """Two customers the engine thinks may be the same, stored once as (a, b) with a < b.

    Jobs upsert on (a, b): a rerun refreshes the score and explanation but never duplicates a pair
    and never reopens a decided one. `not_duplicate` is remembered for good: neither a later job nor
    the on-entry warning proposes the pair again.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        MERGED = "merged", _("Merged")
        NOT_DUPLICATE = "not_duplicate", _("Not a duplicate")
        DISMISSED = "dismissed", _("Dismissed")

    class Band(models.TextChoices):
        LIKELY = "likely", _("Likely duplicate")
        POSSIBLE = "possible", _("Possible duplicate")

    a = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    b = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    score = models.PositiveSmallIntegerField(_("score"))
    band = models.CharField(_("band"), max_length=10, choices=Band.choices)
    explanation = models.JSONField(_("explanation"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=15, choices=Status.choices, default=Status.OPEN)
    job = models.ForeignKey("DedupJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CandidatePairQuerySet.as_manager()

    class Meta:
        verbose_name = _("candidate pair")
        verbose_name_plural = _("candidate pairs")
        constraints = [
            models.UniqueConstraint(fields=["a", "b"], name="candidatepair_a_b"),
            models.CheckConstraint(condition=Q(a__lt=F("b")), name="candidatepair_a_lt_b"),
        ]
        indexes = [
            models.Index(fields=["status", "-score", "id"], name="candidatepair_queue"),
            models.Index(fields=["b"], name="candidatepair_b"),
        ]

    def __str__(self):
        return f"{self.a_id}~{self.b_id} ({self.score})"

    @staticmethod
    def ordered(x: int, y: int) -> tuple[int, int]:
        return (x, y) if x < y else (y, x)

    def other(self, customer_id: int) -> int:
        return self.b_id if customer_id == self.a_id else self.a_id


class DedupJob(models.Model):
    """A batch run over the customers (duplicate search or cleansing), split into chunks.

    Chunk tasks run on any worker; each chunk's completion is a `DedupChunk` row written in the
    same transaction as its results, so a resumed job re-runs only unfinished chunks. Counts are
    sums over the chunks (set, never incremented), so running a chunk twice counts it once.
    """

    class Kind(models.TextChoices):
        DEDUP = "dedup", _("Duplicate search")
        CLEANSE = "cleanse", _("Cleansing and quality")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        CANCELLING = "cancelling", _("Cancelling")
        CANCELLED = "cancelled", _("Cancelled")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING, Status.CANCELLING)

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.DEDUP)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    province = models.CharField(_("province"), max_length=30, blank=True)
    org_unit = models.ForeignKey(
        "sharing.OrgUnit",
        verbose_name=_("org unit"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    incremental = models.BooleanField(_("only customers changed since the last run"), default=False)
    changed_since = models.DateTimeField(null=True, blank=True)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    customers_scanned = models.PositiveIntegerField(_("customers scanned"), default=0)
    pairs_found = models.PositiveIntegerField(_("pairs found"), default=0)
    stats = models.JSONField(default=dict, blank=True, help_text="Cleansing counts summed over the done chunks.")
    last_processed_id = models.BigIntegerField(
        default=0, help_text="Upper bound of the last chunk planned: the cursor of the planning step."
    )
    keys_planned = models.BooleanField(
        default=False,
        help_text="The shared match keys were counted when the job was planned (DedupJobKey rows); "
        "chunks read them instead of probing every key.",
    )
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DedupJobQuerySet.as_manager()

    class Meta:
        verbose_name = _("dedup job")
        verbose_name_plural = _("dedup jobs")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def progress(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.chunks_total:
            return 0
        return min(100, int(100 * self.chunks_done / self.chunks_total))

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    def scope_label(self) -> str:
        if self.org_unit_id:
            return str(self.org_unit)
        if self.province:
            return self.province
        return str(_("All customers"))


class DedupChunk(models.Model):
    """One slice of a job: the customers with start_id <= id <= end_id. Done is recorded with the results."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    job = models.ForeignKey(DedupJob, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    start_id = models.BigIntegerField()
    end_id = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    customers_scanned = models.PositiveIntegerField(default=0)
    pairs_found = models.PositiveIntegerField(default=0)
    stats = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("dedup job chunk")
        verbose_name_plural = _("dedup job chunks")
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="dedupchunk_job_seq")]
        indexes = [models.Index(fields=["job", "status"], name="dedupchunk_job_status")]

    def __str__(self):
        return f"{self.job_id}/{self.seq} [{self.start_id}..{self.end_id}] {self.status}"


class DedupJobKey(models.Model):
    """A match key of a customer that a full duplicate search needs, counted once when it is planned.

    Most keys are held by one customer only and can never pair anyone; a full job counts every
    key's holders in one pass over the key table (dedup_job_plan) and keeps the (customer, key)
    rows of the keys that matter: held by 2 up to the key's block cap (candidate blocks), and the
    phone/email keys held by more than COMMON_KEY_SIZE (shared lines, which change the score).
    A chunk then reads its customers' rows by id range instead of probing every key. Rows are a
    snapshot of the plan and are removed when a later job is planned; no foreign keys (deleting a
    job must not cascade through a million rows in Python).
    """

    pk = models.CompositePrimaryKey("job_id", "customer_id", "key")
    job_id = models.BigIntegerField()
    customer_id = models.BigIntegerField()
    key = models.CharField(max_length=200)
    holders = models.PositiveIntegerField(help_text="Customers holding the key when the job was planned.")

    def __str__(self):
        return f"{self.job_id}: {self.customer_id} {self.key} ({self.holders})"


class MergeJournal(models.Model):
    """Everything a merge changed, so that unmerge restores both records and every moved row exactly.

    - `survivor_before` / `duplicate_before`: pre-images (all concrete fields, m2m ids, profile,
      contact points) taken under the row locks;
    - `moved`: re-pointed rows, grouped as [model label, pk list, field attname, old value];
    - `changed`: other rows the merge edited, as [model label, pk, field attname, old value];
    - `deleted`: rows the merge removed (relationships that would become self-links or duplicates),
      each as {"model": label, "values": {attname: value}} with their primary key;
    - `created`: rows the merge added (carried-over shares), as [model label, pk].

    Pre-images hold personal data: the journal is never shown raw, and `merge_journal_scrub`
    blanks it when a person is erased (the merge then can no longer be undone).
    """

    class Status(models.TextChoices):
        MERGED = "merged", _("Merged")
        UNMERGED = "unmerged", _("Unmerged")

    survivor = models.ForeignKey(
        "customers.Customer", null=True, on_delete=models.SET_NULL, related_name="merge_journals_as_survivor"
    )
    duplicate = models.ForeignKey(
        "customers.Customer", null=True, on_delete=models.SET_NULL, related_name="merge_journals_as_duplicate"
    )
    pair = models.ForeignKey(CandidatePair, null=True, blank=True, on_delete=models.SET_NULL, related_name="journals")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.MERGED)
    reason = models.CharField(_("reason"), max_length=300)
    field_choices = models.JSONField(default=dict, blank=True)
    survivor_before = models.JSONField(default=dict)
    duplicate_before = models.JSONField(default=dict)
    survivor_version_after = models.PositiveIntegerField(default=0)
    moved = models.JSONField(default=list)
    changed = models.JSONField(default=list)
    deleted = models.JSONField(default=list)
    created = models.JSONField(default=list)
    scrubbed = models.BooleanField(default=False)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("merged by")
    )
    merged_at = models.DateTimeField(_("merged at"), auto_now_add=True)
    unmerged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    unmerged_at = models.DateTimeField(null=True, blank=True)
    unmerge_reason = models.CharField(max_length=300, blank=True)

    objects = MergeJournalQuerySet.as_manager()

    class Meta:
        verbose_name = _("merge journal")
        verbose_name_plural = _("merge journals")
        ordering = ["-merged_at", "-id"]

    def __str__(self):
        return f"merge #{self.pk}: {self.duplicate_id} → {self.survivor_id}"

    @property
    def moved_count(self) -> int:
        return sum(len(pks) for _label, pks, _field, _old in self.moved)


class CustomerQuality(models.Model):
    """The cleansing job's verdict on one customer: score 0–100, issue codes, untouched-for-long flag.

    Customer.quality_score holds the same score for the customers pages; this row keeps the
    reasons (codes only, never values) and is indexed so the steward's worst-first list is cheap.
    """

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, related_name="quality", primary_key=True
    )
    score = models.PositiveSmallIntegerField(_("data quality"))
    issues = models.JSONField(_("issues"), default=list, blank=True)
    is_stale = models.BooleanField(_("untouched for a long time"), default=False)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("customer data quality")
        verbose_name_plural = _("customer data quality")
        indexes = [models.Index(fields=["score", "customer"], name="quality_score_customer")]

    def __str__(self):
        return f"{self.customer_id}: {self.score}"
