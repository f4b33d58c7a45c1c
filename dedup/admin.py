"""Admin for the dedup app: read-mostly views for operators. Merges, decisions and jobs go through
the steward pages (services with rights checks and audit), never through admin edits."""

from django.contrib import admin

from dedup.models import CandidatePair, CustomerQuality, DedupChunk, DedupJob, MergeJournal


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DedupChunkInline(admin.TabularInline):
    model = DedupChunk
    extra = 0
    fields = ["seq", "start_id", "end_id", "status", "customers_scanned", "pairs_found", "attempts", "finished_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(DedupJob)
class DedupJobAdmin(ReadOnlyAdmin):
    list_display = ["pk", "kind", "status", "province", "org_unit", "incremental", "chunks_done", "chunks_total"]
    list_filter = ["kind", "status"]
    inlines = [DedupChunkInline]


@admin.register(CandidatePair)
class CandidatePairAdmin(ReadOnlyAdmin):
    list_display = ["pk", "a_id", "b_id", "score", "band", "status", "decided_at"]
    list_filter = ["status", "band"]
    # Only ids and codes: names of customers are shown on the visibility-checked steward pages.
    fields = ["a_id", "b_id", "score", "band", "explanation", "status", "decided_by", "decided_at", "decision_reason"]
    readonly_fields = fields


@admin.register(MergeJournal)
class MergeJournalAdmin(ReadOnlyAdmin):
    # The pre-images hold personal data: the admin shows the bookkeeping, not the images.
    list_display = ["pk", "survivor_id", "duplicate_id", "status", "merged_by", "merged_at", "scrubbed"]
    list_filter = ["status"]
    fields = ["survivor_id", "duplicate_id", "status", "reason", "merged_by", "merged_at", "unmerged_by", "unmerged_at"]
    readonly_fields = fields


@admin.register(CustomerQuality)
class CustomerQualityAdmin(ReadOnlyAdmin):
    list_display = ["customer_id", "score", "is_stale", "computed_at"]
    list_filter = ["is_stale"]
    fields = ["customer_id", "score", "issues", "is_stale", "computed_at"]
    readonly_fields = fields
