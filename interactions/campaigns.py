"""Campaigns: who may run them, target lists from a saved filter, participation, results.

Visibility (docs/adr/0011-reminders-and-campaigns.md):
- a campaign is visible to its creator, to see-all principals, and to users whose view scope
  covers its owner unit (or whose home unit it is);
- it is managed (target list, participation) by its creator, administrators and the marketing
  role, and by unit managers whose scope covers its owner unit;
- every participant row and every figure is computed over the participants whose customer the
  *viewer* may see (`Customer.objects.visible_to`): a campaign never reveals a customer, or a
  count of customers, its viewer could not see otherwise;
- the target list is evaluated with the creator's visibility when it is built, then snapshotted.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import ContactPoint, Customer
from interactions.campaign_models import Campaign, CampaignParticipation
from interactions.care import saved_filter_customers
from interactions.models import Opportunity
from sharing.principal import get_principal

P = CampaignParticipation.Status
MANAGER_ROLES = {"marketing", "administrator"}


# --- who


def campaign_may_create(user) -> bool:
    principal = get_principal(user)
    return principal.is_authenticated and (
        principal.is_superuser or bool(principal.role_codes & MANAGER_ROLES) or principal.is_manager
    )


def campaigns_visible_to(user):
    principal = get_principal(user)
    if not principal.is_authenticated:
        return Campaign.objects.none()
    scope = principal.scope("view")
    if scope.sees_all:
        return Campaign.objects.all()
    units = set(scope.unit_ids) | ({principal.unit_id} if principal.unit_id else set())
    return Campaign.objects.filter(Q(created_by_id=principal.user_id) | Q(owner_unit_id__in=sorted(units)))


def campaign_manageable(user, campaign: Campaign) -> bool:
    principal = get_principal(user)
    if not principal.is_authenticated:
        return False
    if principal.is_superuser or campaign.created_by_id == principal.user_id:
        return True
    if principal.role_codes & MANAGER_ROLES:
        return campaigns_visible_to(user).filter(pk=campaign.pk).exists()
    scope = principal.scope("view")
    return principal.is_manager and (scope.sees_all or campaign.owner_unit_id in scope.unit_ids)


def campaign_sees_creators_counts(user, campaign: Campaign) -> bool:
    """Whether `user` may read counts computed with the creator's visibility (the creator, see-all roles)."""
    principal = get_principal(user)
    return campaign.created_by_id == principal.user_id or principal.scope("view").sees_all


def campaign_owner_units(user):
    """Units a user may name as a campaign's owner: those in their view scope (and their own)."""
    from sharing.models import OrgUnit

    principal = get_principal(user)
    scope = principal.scope("view")
    if scope.sees_all:
        return OrgUnit.objects.filter(is_active=True)
    units = set(scope.unit_ids) | ({principal.unit_id} if principal.unit_id else set())
    return OrgUnit.objects.filter(is_active=True, pk__in=sorted(units))


def participations_visible_to(user, campaign: Campaign):
    return campaign.participations.filter(customer__in=Customer.objects.visible_to(user).values("pk"))


# --- target list


def _consent_annotated(customers):
    valid = ContactPoint.objects.filter(customer_id=OuterRef("pk"), is_valid=True)
    return customers.annotate(has_contact=Exists(valid), has_consent=Exists(valid.filter(marketing_consent=True)))


def campaign_target_preview(*, user, customer_filter: str) -> dict:
    """How many customers the filter gives `user`, and how many consent leaves out (and why)."""
    rows = _consent_annotated(saved_filter_customers(user, customer_filter)).values_list("has_contact", "has_consent")
    counts = {"matched": 0, "included": 0, "no_contact_point": 0, "no_consent": 0}
    for has_contact, has_consent in rows.iterator(chunk_size=2000):
        counts["matched"] += 1
        if has_consent:
            counts["included"] += 1
        elif has_contact:
            counts["no_consent"] += 1
        else:
            counts["no_contact_point"] += 1
    return counts


@transaction.atomic
def campaign_create(
    *, created_by, name, kind, starts_on, ends_on, owner_unit, budget=0, customer_filter=""
) -> Campaign:
    """Create a campaign and snapshot its target list. An empty target is refused."""
    if not campaign_may_create(created_by):
        raise PermissionDenied
    if not campaign_owner_units(created_by).filter(pk=owner_unit.pk).exists():
        raise ValidationError({"owner_unit": _("Choose a unit within your scope.")})
    campaign = Campaign(
        name=(name or "").strip(),
        kind=kind,
        starts_on=starts_on,
        ends_on=ends_on,
        owner_unit=owner_unit,
        budget=budget or Decimal("0"),
        customer_filter=customer_filter or "",
        created_by=created_by,
    )
    campaign.full_clean()
    campaign.save()
    campaign_target_build(campaign=campaign, by=created_by)
    campaign.refresh_from_db()
    return campaign


@transaction.atomic
def campaign_target_build(*, campaign: Campaign, by) -> dict:
    """(Re)build the target list from the saved filter with the creator's visibility.

    Only customers with a valid contact point carrying marketing consent are included; the rest
    are counted by reason on the campaign. A rebuild adds new matches and drops rows still at
    "targeted" that no longer match; rows that progressed are kept. Empty: ValidationError.
    """
    if not campaign_manageable(by, campaign):
        raise PermissionDenied
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    creator = campaign.created_by
    customers = _consent_annotated(saved_filter_customers(creator, campaign.customer_filter))
    counts = {"matched": 0, "included": 0, "no_contact_point": 0, "no_consent": 0}
    included = []
    for pk, has_contact, has_consent in customers.values_list("pk", "has_contact", "has_consent").iterator(
        chunk_size=2000
    ):
        counts["matched"] += 1
        if has_consent:
            included.append(pk)
        elif has_contact:
            counts["no_consent"] += 1
        else:
            counts["no_contact_point"] += 1
    counts["included"] = len(included)
    if not included:
        if counts["matched"]:
            message = _(
                "The target list would be empty: %(n)s customers match, but none has a contact point with "
                "marketing consent."
            ) % {"n": counts["matched"]}
        else:
            message = _("The target list would be empty: no customer you can see matches this filter.")
        raise ValidationError({"customer_filter": message})
    existing = set(campaign.participations.values_list("customer_id", flat=True))
    CampaignParticipation.objects.bulk_create(
        [
            CampaignParticipation(campaign=campaign, customer_id=pk, updated_by=by)
            for pk in included
            if pk not in existing
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    campaign.participations.filter(status=P.TARGETED).exclude(customer_id__in=included).delete()
    campaign.excluded = counts
    campaign.target_built_at = timezone.now()
    campaign.save(update_fields=["excluded", "target_built_at", "updated_at"])
    return counts


# --- participation


def participation_set(*, participation: CampaignParticipation, status: str, by) -> CampaignParticipation:
    """Record how far a participant came. The recorder must manage the campaign and see the customer."""
    if status not in P.values:
        raise ValidationError({"status": _("Choose a valid status.")})
    if not campaign_manageable(by, participation.campaign):
        raise PermissionDenied
    if not Customer.objects.visible_to(by).filter(pk=participation.customer_id).exists():
        raise PermissionDenied
    participation.status = status
    participation.updated_by = by
    participation.save(update_fields=["status", "updated_by", "updated_at"])
    return participation


def _status_lookup() -> dict[str, str]:
    """Status codes and their labels (English and the active language) → code."""
    from django.utils import translation

    lookup = {}
    for code, label in P.choices:
        lookup[code.casefold()] = code
        with translation.override("zh-hans"):
            lookup[str(label).casefold()] = code
        with translation.override("en"):
            lookup[str(label).casefold()] = code
    return lookup


NUMBER_HEADERS = {"customer number", "customer", "number", "客户编号", "编号"}
STATUS_HEADERS = {"status", "participation", "状态", "参与状态"}


@dataclass
class ImportReport:
    updated: int = 0
    problems: list[tuple[int, str]] | None = None


def participation_import(*, campaign: Campaign, content: bytes, filename: str, by) -> ImportReport:
    """Set participation from a CSV/XLSX file with a customer-number and a status column.

    Every bad row is reported with its row number and the reason; good rows are applied. A number
    the importer may not see, or that is not on the target list, reads "not on this campaign's
    target list" — the same words, so the file cannot probe for hidden customers.
    """
    from customers.io.readers import FileProblem, iter_rows, sniff

    if not campaign_manageable(by, campaign):
        raise PermissionDenied
    try:
        sheet = sniff(content, filename)
    except FileProblem as exc:
        raise ValidationError(str(exc)) from exc
    headers = [h.strip().casefold() for h in sheet.headers]
    number_col = next((i for i, h in enumerate(headers) if h in NUMBER_HEADERS), None)
    status_col = next((i for i, h in enumerate(headers) if h in STATUS_HEADERS), None)
    if number_col is None or status_col is None:
        raise ValidationError(_("The file needs a “customer number” column and a “status” column."))
    lookup = _status_lookup()
    rows = participations_visible_to(by, campaign).select_related("customer")
    by_number = {p.customer.number.upper(): p for p in rows}
    report = ImportReport(problems=[])
    for row in iter_rows(content, sheet):
        if row.problems:
            report.problems.append((row.number, "; ".join(row.problems)))
            continue
        values = row.values + [""] * (max(number_col, status_col) + 1 - len(row.values))
        number, status_text = values[number_col].strip().upper(), values[status_col].strip().casefold()
        participation = by_number.get(number)
        if participation is None:
            report.problems.append(
                (row.number, _("%(number)s is not on this campaign's target list.") % {"number": number})
            )
            continue
        status = lookup.get(status_text)
        if status is None:
            report.problems.append((row.number, _("Unknown status “%(status)s”.") % {"status": values[status_col]}))
            continue
        participation_set(participation=participation, status=status, by=by)
        report.updated += 1
    return report


# --- results


@dataclass
class CampaignResults:
    targets: int
    invited: int
    responded: int
    attended: int
    converted: int
    response_rate: Decimal | None
    conversion_rate: Decimal | None
    opportunities: int
    won: int
    revenue: Decimal
    budget: Decimal
    cost_per_conversion: Decimal | None


def _rate(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


def campaign_results(*, campaign: Campaign, viewer) -> CampaignResults:
    """The campaign's figures over the participants and opportunities `viewer` may see.

    Stages form a ladder (targeted < invited < registered < attended < responded < converted):
    invited = at least invited; responded = at least registered (any reaction); attended = at
    least attended; response rate = responded / invited; conversion rate = converted / invited.
    Revenue = the amount of won opportunities linked to the campaign.
    """
    grouped = participations_visible_to(viewer, campaign).order_by().values("status").annotate(n=Count("pk"))
    counts = {row["status"]: row["n"] for row in grouped}
    rank = CampaignParticipation.RANK

    def at_least(stage):
        return sum(n for status, n in counts.items() if rank.get(status, -1) >= rank[stage])

    targets = sum(counts.values())
    invited, responded, attended = at_least(P.INVITED), at_least(P.REGISTERED), at_least(P.ATTENDED)
    converted = counts.get(P.CONVERTED, 0)
    opportunities = Opportunity.objects.visible_to(viewer).filter(campaign=campaign)
    figures = opportunities.aggregate(
        n=Count("pk"),
        won=Count("pk", filter=Q(stage=Opportunity.Stage.WON)),
        revenue=Sum("amount", filter=Q(stage=Opportunity.Stage.WON)),
    )
    return CampaignResults(
        targets=targets,
        invited=invited,
        responded=responded,
        attended=attended,
        converted=converted,
        response_rate=_rate(responded, invited),
        conversion_rate=_rate(converted, invited),
        opportunities=figures["n"],
        won=figures["won"],
        revenue=figures["revenue"] or Decimal("0"),
        budget=campaign.budget,
        cost_per_conversion=(campaign.budget / converted).quantize(Decimal("0.01")) if converted else None,
    )


# --- demo data (seed_demo)


def demo_campaign_and_care_rules(users) -> list[str]:
    """A campaign and two care rules for the demo company (idempotent: existing ones are left alone)."""
    from datetime import date, timedelta

    from interactions.campaign_models import CareRule
    from sharing.models import OrgUnit

    done = []
    admin, marketing = users["admin"], users["marketing1"]
    rules = [
        {
            "name": "春节问候（重点客户）",
            "kind": "holiday",
            "action": "greeting_list",
            "days_before": 7,
            "event_on": date(2027, 2, 6),
            "customer_filter": "kind=person",
        },
        {
            "name": "90天未下单唤醒",
            "kind": "dormant",
            "action": "followup",
            "days_before": 0,
            "inactive_days": 90,
            "customer_filter": "kind=company",
        },
    ]
    for spec in rules:
        if CareRule.objects.filter(name=spec["name"]).exists():
            continue
        rule = CareRule(created_by=admin, **spec)
        try:
            rule.full_clean()
        except ValidationError as exc:
            done.append(f"care rule {spec['name']} skipped: {' '.join(exc.messages)}")
            continue
        rule.save()
        done.append(f"care rule {rule.name}")
    name = "2026 秋季新品体验会"
    if not Campaign.objects.filter(name=name).exists():
        today = timezone.localdate()
        try:
            campaign_create(
                created_by=marketing,
                name=name,
                kind=Campaign.Kind.TRIAL,
                starts_on=today,
                ends_on=today + timedelta(days=30),
                owner_unit=OrgUnit.objects.get(code="HQ"),
                budget=Decimal("50000"),
                customer_filter="kind=person",
            )
            done.append(f"campaign {name}")
        except ValidationError as exc:
            done.append(f"campaign {name} skipped: {' '.join(exc.messages)}")
    return done
