"""Customer care: the daily run of the care rules (birthdays, holidays, dormant customers).

A rule's target is its saved customer-list filter evaluated with its creator's visibility
(`saved_filter_customers`), narrowed by kind. Each matching customer with an owner and a contact
point carrying marketing consent is touched once per occasion (CareTouch is unique per rule,
customer and occasion): a follow-up task for the owner, or a line in the owner's greeting list.
Customers left out for lack of consent are counted on the run. Running twice touches nobody twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.db.models import DateField, Exists, Max, OuterRef
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import ContactPoint, Customer
from interactions.campaign_models import CareRule, CareRun, CareTouch, next_birthday
from interactions.models import Activity
from sharing.models import ReminderKind
from sharing.reminders import can_see, remind


def saved_filter_customers(user, query: str):
    """The customers the customer list would show `user` for these query parameters (visible_to inside)."""
    from django.http import QueryDict

    from customers import selectors
    from customers.forms import CustomerFilterForm

    owners, units = selectors.customer_filter_choices(user)
    form = CustomerFilterForm(QueryDict(query or "", mutable=False), owners=owners, units=units)
    return selectors.customer_list(user, form.filters()).order_by("pk")


def with_consent():
    """Customers with at least one valid contact point that carries marketing consent."""
    return Exists(ContactPoint.objects.filter(customer_id=OuterRef("pk"), marketing_consent=True, is_valid=True))


def care_rule_candidates(rule: CareRule):
    """The rule's target regardless of date: what 'an empty target' is checked against."""
    customers = saved_filter_customers(rule.created_by, rule.customer_filter)
    if rule.kind == CareRule.Kind.BIRTHDAY:
        customers = customers.filter(kind=Customer.Kind.PERSON, person__birth_date__isnull=False)
    return customers


def _due(rule: CareRule, day: date) -> list[tuple[Customer, date]]:
    """(customer, occasion) pairs the rule acts on today."""
    customers = care_rule_candidates(rule).select_related("owner")
    if rule.kind == CareRule.Kind.BIRTHDAY:
        out = []
        for customer in customers.select_related("person"):
            occasion = next_birthday(customer.person.birth_date, day)
            if occasion <= day + timedelta(days=rule.days_before):
                out.append((customer, occasion))
        return out
    if rule.kind == CareRule.Kind.HOLIDAY:
        if not rule.event_on or not rule.event_on - timedelta(days=rule.days_before) <= day <= rule.event_on:
            return []
        return [(customer, rule.event_on) for customer in customers]
    # Dormant: the last order (or, without any order, the day the customer was created) is at least
    # `inactive_days` old. The occasion is the day it became dormant, so a new order starts a new one.
    since = Coalesce(Max("orders__ordered_on"), TruncDate("created_at"), output_field=DateField())
    cutoff = day - timedelta(days=rule.inactive_days)
    dormant = customers.annotate(since=since).filter(since__lte=cutoff)
    return [(customer, customer.since + timedelta(days=rule.inactive_days)) for customer in dormant]


@transaction.atomic
def care_rule_run(*, rule: CareRule, day: date | None = None) -> CareRun:
    """Run one rule for `day`: touch each due customer once per occasion. Returns the run."""
    day = day or timezone.localdate()
    run, _created = CareRun.objects.get_or_create(rule=rule, ran_on=day)
    due = _due(rule, day)
    consenting = set(
        Customer.objects.filter(pk__in=[c.pk for c, _o in due]).filter(with_consent()).values_list("pk", flat=True)
    )
    already = set(
        CareTouch.objects.filter(rule=rule, customer_id__in=[c.pk for c, _o in due]).values_list(
            "customer_id", "occasion_on"
        )
    )
    excluded = 0
    greetings = defaultdict(list)
    for customer, occasion in due:
        if customer.pk not in consenting:
            excluded += 1
            continue
        owner = customer.owner
        if (customer.pk, occasion) in already or owner is None or not can_see(owner, customer):
            continue
        try:
            with transaction.atomic():
                touch = CareTouch.objects.create(rule=rule, run=run, customer=customer, occasion_on=occasion)
        except IntegrityError:
            continue  # another worker touched it first
        if rule.action == CareRule.Action.FOLLOWUP:
            touch.activity = Activity.objects.create(
                customer=customer,
                kind=Activity.Kind.NOTE,
                subject=_("Care: %(rule)s (%(date)s)") % {"rule": rule.name, "date": occasion.isoformat()},
                user=owner,
                follow_up_on=day,
            )
            touch.save(update_fields=["activity"])
            remind(
                owner,
                ReminderKind.CARE_TASK,
                f"care:{rule.pk}:{customer.pk}:{occasion.isoformat()}",
                _("Care task: %(rule)s for %(customer)s") % {"rule": rule.name, "customer": customer.number},
                customer.get_absolute_url(),
                customer=customer,
            )
        else:
            greetings[owner].append(customer)
    for owner, customers in greetings.items():
        numbers = ", ".join(c.number for c in customers[:10]) + (" …" if len(customers) > 10 else "")
        remind(
            owner,
            ReminderKind.CARE_TASK,
            f"care-list:{rule.pk}:{day.isoformat()}",
            _("%(rule)s: %(count)s customers to greet: %(numbers)s")
            % {"rule": rule.name, "count": len(customers), "numbers": numbers},
            customers[0].get_absolute_url() if len(customers) == 1 else "",
        )
    run.touched = run.touches.count()
    run.excluded_no_consent = excluded
    run.save(update_fields=["touched", "excluded_no_consent"])
    return run


def care_rules_run(*, day: date | None = None) -> int:
    """Run every active rule (the daily beat job). Returns how many customers were touched in total."""
    total = 0
    for rule in CareRule.objects.filter(is_active=True).select_related("created_by").order_by("pk"):
        if not rule.created_by.is_active:
            continue
        before = CareTouch.objects.filter(rule=rule).count()
        care_rule_run(rule=rule, day=day)
        total += CareTouch.objects.filter(rule=rule).count() - before
    return total
