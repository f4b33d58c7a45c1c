"""Writes of interactions: activities and follow-ups, the sales chain, service-case workflows.

Who may write (ADR 0005):
- activities and service cases: VIEW access to the customer, the record kind in the user's roles,
  and a role that writes at all (a change scope other than "none"; auditors and finance clerks
  read only). Service agents see every customer but change only their own, yet must log calls and
  complaints for all of them.
- opportunities and sales documents (quote, contract, order, shipment): CHANGE access to the
  customer and the kind.
- payments: VIEW access, the payment kind and the finance field group editable (finance clerks).

Every service checks this itself (one small query), so a caller that forgot cannot bypass it;
views fetch through `visible_to` first so a hidden record answers 404 before a service runs.
Domain errors are `ValidationError`s with messages meant for the user.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from interactions.models import (
    Activity,
    CaseEvent,
    Contract,
    Currency,
    Opportunity,
    Order,
    Payment,
    Quote,
    ServiceCase,
    Shipment,
    service_level_days,
)

# Clocks differ a little between a laptop and the server; "now" in a form is not the future.
FUTURE_TOLERANCE = timedelta(minutes=5)


# --- who may write -------------------------------------------------------------------------------


def interactions_writer(user) -> bool:
    """Whether the user's roles write at all (some role with a change scope other than "none")."""
    from sharing.principal import get_principal

    principal = get_principal(user)
    return principal.is_authenticated and principal.may_create


def payments_writer(user) -> bool:
    """Whether the user records payments: sees payments and may edit the finance field group."""
    from sharing.models import FieldLevel
    from sharing.principal import get_principal

    principal = get_principal(user)
    return principal.sees_kind(Payment.KIND) and principal.field_level("finance") >= FieldLevel.EDITABLE


def _required_action(kind: str) -> str:
    return "view" if kind in (Payment.KIND, Activity.KIND, ServiceCase.KIND) else "change"


def _writer_for(user, kind: str) -> bool:
    return payments_writer(user) if kind == Payment.KIND else interactions_writer(user)


def may_create(user, customer, kind: str) -> bool:
    """Whether `user` may create a record of `kind` for `customer` (the rule of the module docstring)."""
    from sharing.principal import get_principal, may_access_customer

    if not get_principal(user).sees_kind(kind) or not _writer_for(user, kind):
        return False
    return may_access_customer(user, customer.pk, _required_action(kind))


def creatable_kinds(user, customer) -> set[str]:
    """Every kind `user` may create for `customer`, in at most two visibility queries (for pages showing many buttons)."""
    from sharing.principal import get_principal, may_access_customer

    principal = get_principal(user)
    kinds = [k for k in _KINDS if principal.sees_kind(k) and _writer_for(user, k)]
    if not kinds:
        return set()
    access = {}
    for action in ("view", "change"):
        if any(_required_action(k) == action for k in kinds):
            access[action] = may_access_customer(user, customer.pk, action)
    return {k for k in kinds if access[_required_action(k)]}


_KINDS = ("activity", "opportunity", "quote", "contract", "order", "shipment", "payment", "service_case")


def _require(user, customer, kind: str) -> None:
    if not may_create(user, customer, kind):
        raise PermissionDenied
    if customer.status in ("merged", "erased"):
        raise ValidationError(_("This customer was merged or erased; nothing can be added to it."))


# --- small rules ----------------------------------------------------------------------------------


def _not_future_datetime(value: datetime | None, field: str, message: str) -> None:
    if value is not None and value > timezone.now() + FUTURE_TOLERANCE:
        raise ValidationError({field: message})


def _not_future_date(value: date | None, field: str, message: str) -> None:
    if value is not None and value > timezone.localdate():
        raise ValidationError({field: message})


def _amount(value, field: str = "amount") -> Decimal:
    if value is None or value == "":
        raise ValidationError({field: _("Enter an amount.")})
    amount = Decimal(value)
    if amount < 0:
        raise ValidationError({field: _("An amount cannot be negative.")})
    return amount


def _currency(value: str) -> str:
    if value not in Currency.values:
        raise ValidationError({"currency": _("Choose a currency.")})
    return value


def _text(value: str | None, field: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: message})
    return value


def document_number_issue(model, today: date | None = None) -> str:
    """The next number of a document type: prefix + year + six digits, e.g. Q2026000123.

    One `NumberSequence` row per type and year ("quote-2026"), locked while it is incremented, so
    concurrent creators get distinct numbers (the approach of customer_numbers_reserve). Inside a
    caller's transaction the lock is held until it commits, so a failed creation reuses nothing:
    the number is rolled back with it.
    """
    from customers.models import NumberSequence

    year = (today or timezone.localdate()).year
    with transaction.atomic():
        seq, _created = NumberSequence.objects.select_for_update().get_or_create(name=f"{model.KIND}-{year}")
        seq.last_value += 1
        seq.save(update_fields=["last_value"])
    return f"{model.NUMBER_PREFIX}{year}{seq.last_value:06d}"


def _full_clean(obj) -> None:
    """`obj.full_clean()` without asking the database whether related rows the caller passed as
    loaded instances exist: Django validates every foreign key with a query (three per new
    activity: customer, user, author). The foreign-key constraints still hold at insert."""
    loaded = []
    for field in obj._meta.concrete_fields:
        if field.is_relation and field.is_cached(obj):
            related = field.get_cached_value(obj)
            if related is not None and not related._state.adding:
                loaded.append(field.name)
    obj.full_clean(exclude=loaded)


# --- activities and follow-ups --------------------------------------------------------------------


@transaction.atomic
def activity_create(
    *,
    customer,
    created_by,
    subject: str,
    kind: str = Activity.Kind.CALL,
    notes: str = "",
    occurred_at: datetime | None = None,
    follow_up_on: date | None = None,
    user=None,
) -> Activity:
    """Log what happened with a customer; `follow_up_on` puts it on someone's follow-up list."""
    _require(created_by, customer, Activity.KIND)
    occurred_at = occurred_at or timezone.now()
    _not_future_datetime(occurred_at, "occurred_at", _("An activity cannot have happened in the future."))
    if follow_up_on is not None and follow_up_on < timezone.localdate():
        raise ValidationError({"follow_up_on": _("The next follow-up cannot be in the past.")})
    activity = Activity(
        customer=customer,
        kind=kind,
        subject=_text(subject, "subject", _("Enter a subject.")),
        notes=(notes or "").strip(),
        occurred_at=occurred_at,
        follow_up_on=follow_up_on,
        user=user or created_by,
        created_by=created_by,
    )
    _full_clean(activity)
    activity.save()
    return activity


@transaction.atomic
def activity_update(
    *,
    activity: Activity,
    updated_by,
    subject: str,
    kind: str,
    notes: str = "",
    occurred_at: datetime | None = None,
    follow_up_on: date | None = None,
) -> Activity:
    """Edit an activity. A changed follow-up date opens the follow-up again."""
    if not Activity.objects.editable_by(updated_by).filter(pk=activity.pk).exists():
        raise PermissionDenied
    locked = Activity.objects.select_for_update().get(pk=activity.pk)
    occurred_at = occurred_at or locked.occurred_at
    _not_future_datetime(occurred_at, "occurred_at", _("An activity cannot have happened in the future."))
    if follow_up_on != locked.follow_up_on:
        if follow_up_on is not None and follow_up_on < timezone.localdate():
            raise ValidationError({"follow_up_on": _("The next follow-up cannot be in the past.")})
        locked.follow_up_done = False
        locked.follow_up_done_at = None
    locked.subject = _text(subject, "subject", _("Enter a subject."))
    locked.kind = kind
    locked.notes = (notes or "").strip()
    locked.occurred_at = occurred_at
    locked.follow_up_on = follow_up_on
    locked.full_clean()
    locked.save()
    return locked


@transaction.atomic
def followup_done(*, activity: Activity, done_by) -> Activity:
    """Tick off a follow-up. Marking it twice changes nothing."""
    if not interactions_writer(done_by) or not Activity.objects.visible_to(done_by).filter(pk=activity.pk).exists():
        raise PermissionDenied
    locked = Activity.objects.select_for_update().get(pk=activity.pk)
    if locked.follow_up_on is None:
        raise ValidationError(_("This activity has no follow-up to mark as done."))
    if not locked.follow_up_done:
        locked.follow_up_done = True
        locked.follow_up_done_at = timezone.now()
        locked.save(update_fields=["follow_up_done", "follow_up_done_at", "updated_at"])
    return locked


# --- opportunities --------------------------------------------------------------------------------


@transaction.atomic
def opportunity_create(
    *,
    customer,
    created_by,
    name: str,
    amount=Decimal("0"),
    currency: str = Currency.CNY,
    expected_close_on: date | None = None,
    probability: int | None = None,
    owner=None,
    campaign=None,
) -> Opportunity:
    _require(created_by, customer, Opportunity.KIND)
    if campaign is not None and not campaigns_of(customer).filter(pk=campaign.pk).exists():
        raise ValidationError({"campaign": _("This customer did not take part in that campaign.")})
    opportunity = Opportunity(
        customer=customer,
        name=_text(name, "name", _("Enter a name.")),
        amount=_amount(amount),
        currency=_currency(currency),
        expected_close_on=expected_close_on,
        probability=Opportunity.DEFAULT_PROBABILITY["lead"] if probability is None else probability,
        owner=owner or created_by,
        created_by=created_by,
        campaign=campaign,
    )
    if not 0 <= opportunity.probability <= 100:
        raise ValidationError({"probability": _("Probability must be between 0 and 100%.")})
    _full_clean(opportunity)
    opportunity.save()
    return opportunity


@transaction.atomic
def opportunity_advance(*, opportunity: Opportunity, stage: str, changed_by, reason: str = "") -> Opportunity:
    """Move an opportunity to another stage; won and lost close it (lost needs a reason).

    Open stages may move forward or back (a proposal can return to qualification); a closed
    opportunity stays closed.
    """
    _require(changed_by, opportunity.customer, Opportunity.KIND)
    locked = Opportunity.objects.select_for_update().get(pk=opportunity.pk)
    if stage not in Opportunity.Stage.values:
        raise ValidationError({"stage": _("Choose a stage.")})
    if not locked.is_open:
        raise ValidationError(_("This opportunity is closed (won or lost); its stage can no longer change."))
    if stage == locked.stage:
        raise ValidationError({"stage": _("The opportunity is already at this stage.")})
    reason = (reason or "").strip()
    if stage == Opportunity.Stage.LOST and not reason:
        raise ValidationError({"reason": _("Say why the opportunity was lost.")})
    locked.stage = stage
    locked.probability = Opportunity.DEFAULT_PROBABILITY[stage]
    if stage in Opportunity.CLOSED_STAGES:
        locked.close_reason = reason
        locked.closed_at = timezone.now()
    locked.save()
    return locked


# --- the sales chain ------------------------------------------------------------------------------


def _alive(source, message: str) -> None:
    if source.status in source.DEAD_STATUSES:
        raise ValidationError(message)


@transaction.atomic
def quote_create(
    *,
    opportunity: Opportunity,
    created_by,
    amount,
    currency: str | None = None,
    issued_on: date | None = None,
    valid_until: date | None = None,
    note: str = "",
) -> Quote:
    _require(created_by, opportunity.customer, Quote.KIND)
    if opportunity.stage == Opportunity.Stage.LOST:
        raise ValidationError(_("A lost opportunity cannot be quoted."))
    issued_on = issued_on or timezone.localdate()
    _not_future_date(issued_on, "issued_on", _("A quote cannot be issued in the future."))
    quote = Quote(
        customer=opportunity.customer,
        opportunity=opportunity,
        amount=_amount(amount),
        currency=_currency(currency or opportunity.currency),
        issued_on=issued_on,
        valid_until=valid_until,
        note=(note or "").strip(),
        created_by=created_by,
    )
    quote.full_clean(exclude=["number"])
    quote.number = document_number_issue(Quote)
    quote.save()
    return quote


@transaction.atomic
def contract_create(
    *,
    quote: Quote,
    created_by,
    start_on: date,
    end_on: date,
    amount=None,
    signed_on: date | None = None,
    note: str = "",
) -> Contract:
    _require(created_by, quote.customer, Contract.KIND)
    _alive(quote, _("A rejected, expired or cancelled quote cannot become a contract."))
    _not_future_date(signed_on, "signed_on", _("A contract cannot be signed in the future."))
    if start_on and end_on and end_on < start_on:
        raise ValidationError({"end_on": _("The end date must not be before the start date.")})
    contract = Contract(
        customer=quote.customer,
        quote=quote,
        amount=_amount(quote.amount if amount is None else amount),
        currency=quote.currency,
        signed_on=signed_on,
        start_on=start_on,
        end_on=end_on,
        note=(note or "").strip(),
        created_by=created_by,
    )
    contract.full_clean(exclude=["number"])
    contract.number = document_number_issue(Contract)
    contract.save()
    return contract


@transaction.atomic
def order_create(*, contract: Contract, created_by, amount, ordered_on: date | None = None, note: str = "") -> Order:
    _require(created_by, contract.customer, Order.KIND)
    _alive(contract, _("A terminated or cancelled contract takes no new orders."))
    ordered_on = ordered_on or timezone.localdate()
    _not_future_date(ordered_on, "ordered_on", _("An order cannot be placed in the future."))
    order = Order(
        customer=contract.customer,
        contract=contract,
        amount=_amount(amount),
        currency=contract.currency,
        ordered_on=ordered_on,
        note=(note or "").strip(),
        created_by=created_by,
    )
    order.full_clean(exclude=["number"])
    order.number = document_number_issue(Order)
    order.save()
    return order


@transaction.atomic
def shipment_create(
    *,
    order: Order,
    created_by,
    shipped_on: date | None = None,
    carrier: str = "",
    tracking_number: str = "",
    note: str = "",
) -> Shipment:
    _require(created_by, order.customer, Shipment.KIND)
    _alive(order, _("A cancelled order cannot be shipped."))
    _not_future_date(shipped_on, "shipped_on", _("A shipment cannot have left in the future."))
    shipment = Shipment(
        customer=order.customer,
        order=order,
        shipped_on=shipped_on,
        carrier=(carrier or "").strip(),
        tracking_number=(tracking_number or "").strip(),
        status=Shipment.Status.SHIPPED if shipped_on else Shipment.Status.PREPARED,
        note=(note or "").strip(),
        created_by=created_by,
    )
    shipment.full_clean(exclude=["number"])
    shipment.number = document_number_issue(Shipment)
    shipment.save()
    return shipment


def contract_open_amount(contract: Contract, *, exclude_pk=None) -> Decimal:
    """The contract amount less every payment recorded against it (cancelled ones excepted)."""
    payments = Payment.objects.filter(contract=contract).exclude(status=Payment.Status.CANCELLED)
    if exclude_pk is not None:
        payments = payments.exclude(pk=exclude_pk)
    recorded = payments.aggregate(total=Sum("amount"))["total"] or Decimal("0")
    return contract.amount - recorded


@transaction.atomic
def payment_record(
    *,
    contract: Contract,
    recorded_by,
    amount,
    due_on: date,
    paid_on: date | None = None,
    order: Order | None = None,
    override_note: str = "",
    note: str = "",
) -> Payment:
    """Record an expected (or already received) payment against a contract.

    The contract row is locked, so two clerks recording at once cannot both squeeze under the
    open amount. More than the open amount needs an override note saying why.
    """
    _require(recorded_by, contract.customer, Payment.KIND)
    locked = Contract.objects.select_for_update().get(pk=contract.pk)
    if locked.status == Contract.Status.CANCELLED:
        raise ValidationError(_("A cancelled contract takes no payments."))
    if order is not None and order.contract_id != locked.pk:
        raise ValidationError({"order": _("The order belongs to another contract.")})
    amount = _amount(amount)
    if due_on is None:
        raise ValidationError({"due_on": _("Enter the due date.")})
    _not_future_date(paid_on, "paid_on", _("A payment cannot have been received in the future."))
    override_note = (override_note or "").strip()
    open_amount = contract_open_amount(locked)
    if amount > open_amount and not override_note:
        raise ValidationError(
            {
                "amount": _(
                    "%(amount)s is more than the contract's open amount of %(open)s %(currency)s. "
                    "Enter an override note to record it anyway."
                )
                % {"amount": amount, "open": open_amount, "currency": locked.currency}
            }
        )
    payment = Payment(
        customer=locked.customer,
        contract=locked,
        order=order,
        amount=amount,
        currency=locked.currency,
        due_on=due_on,
        paid_on=paid_on,
        status=Payment.Status.PAID if paid_on else Payment.Status.OPEN,
        override_note=override_note if amount > open_amount else "",
        note=(note or "").strip(),
        created_by=recorded_by,
    )
    payment.full_clean(exclude=["number"])
    payment.number = document_number_issue(Payment)
    payment.save()
    return payment


@transaction.atomic
def payment_mark_paid(*, payment: Payment, recorded_by, paid_on: date) -> Payment:
    _require(recorded_by, payment.customer, Payment.KIND)
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    if locked.status != Payment.Status.OPEN:
        raise ValidationError(_("Only an open payment can be marked as paid."))
    if paid_on is None:
        raise ValidationError({"paid_on": _("Enter the date the payment was received.")})
    _not_future_date(paid_on, "paid_on", _("A payment cannot have been received in the future."))
    locked.paid_on = paid_on
    locked.status = Payment.Status.PAID
    locked.save(update_fields=["paid_on", "status", "updated_at"])
    return locked


@transaction.atomic
def document_transition(*, document, status: str, changed_by):
    """Move a quote, contract, order, shipment or payment to one of its allowed next statuses."""
    model = type(document)
    _require(changed_by, document.customer, model.KIND)
    locked = model.objects.select_for_update().get(pk=document.pk)
    if status not in locked.next_statuses():
        labels = dict(model.Status.choices)
        raise ValidationError(
            _("A %(kind)s cannot go from “%(from)s” to “%(to)s”.")
            % {
                "kind": model._meta.verbose_name,
                "from": labels.get(locked.status, locked.status),
                "to": labels.get(status, status),
            }
        )
    today = timezone.localdate()
    locked.status = status
    if model is Shipment and status == Shipment.Status.SHIPPED and not locked.shipped_on:
        locked.shipped_on = today
    if model is Shipment and status == Shipment.Status.DELIVERED and not locked.delivered_on:
        locked.delivered_on = today
    locked.save()
    return locked


# --- service cases --------------------------------------------------------------------------------


def _case_event(case: ServiceCase, *, from_status: str, actor, note: str = "") -> None:
    CaseEvent.objects.create(case=case, from_status=from_status, to_status=case.status, actor=actor, note=note)


def _require_case(user, case: ServiceCase) -> None:
    if not interactions_writer(user) or not ServiceCase.objects.visible_to(user).filter(pk=case.pk).exists():
        raise PermissionDenied


@transaction.atomic
def case_open(
    *,
    customer,
    opened_by,
    subject: str,
    type: str = ServiceCase.Type.COMPLAINT,  # noqa: A002  (the domain's word)
    category: str = ServiceCase.Category.OTHER,
    severity: str = ServiceCase.Severity.NORMAL,
    description: str = "",
    received_at: datetime | None = None,
) -> ServiceCase:
    """Register a request, complaint or feedback; its due date comes from the severity's service level."""
    _require(opened_by, customer, ServiceCase.KIND)
    received_at = received_at or timezone.now()
    _not_future_datetime(received_at, "received_at", _("A case cannot have been received in the future."))
    case = ServiceCase(
        customer=customer,
        type=type,
        category=category,
        severity=severity,
        subject=_text(subject, "subject", _("Enter a subject.")),
        description=(description or "").strip(),
        received_at=received_at,
        created_by=opened_by,
    )
    case.due_at = case.compute_due_at()
    case.full_clean(exclude=["number"])
    case.number = document_number_issue(ServiceCase)
    case.save()
    _case_event(case, from_status="", actor=opened_by)
    return case


def _step_refused(case: ServiceCase, to_status: str) -> ValidationError:
    labels = dict(ServiceCase.Status.choices)
    flow = case.flow
    current, target = labels.get(case.status, case.status), labels.get(to_status, to_status)
    if case.status == ServiceCase.Status.CLOSED:
        return ValidationError(_("The case is closed. Reopen it first."))
    if to_status in flow and flow.index(to_status) <= flow.index(case.status):
        return ValidationError(
            _("Workflow steps cannot run backwards: the case is at “%(current)s”, not before “%(target)s”.")
            % {"current": current, "target": target}
        )
    expected = labels.get(case.next_status, "")
    return ValidationError(
        _("Steps cannot be skipped: after “%(current)s” comes “%(expected)s”, not “%(target)s”.")
        % {"current": current, "expected": expected, "target": target}
    )


@transaction.atomic
def case_advance(
    *,
    case: ServiceCase,
    to_status: str,
    by,
    note: str = "",
    category: str | None = None,
    severity: str | None = None,
    units=None,
    responsible_user=None,
    solution: str = "",
    result: str = "",
) -> ServiceCase:
    """Take a complaint one step further. Only the next step of the flow is accepted.

    Step data: assessed (note = the assessment), classified (category and severity; the due date
    follows a changed severity), assigned (one or more units and a responsible person), solution
    drafted (the solution), solution carried out (note), result reported (what the customer was
    told). Closing is case_close.
    """
    _require_case(by, case)
    locked = ServiceCase.objects.select_for_update().get(pk=case.pk)
    S = ServiceCase.Status
    if to_status == S.CLOSED and locked.next_status == S.CLOSED:
        raise ValidationError(_("Close the case with the closing form (satisfaction and recommendation)."))
    if to_status != locked.next_status:
        raise _step_refused(locked, to_status)
    note = (note or "").strip()
    from_status = locked.status
    if to_status == S.ASSESSED:
        locked.assessment = note
    elif to_status == S.CLASSIFIED:
        if category not in ServiceCase.Category.values:
            raise ValidationError({"category": _("Choose a category.")})
        if severity not in ServiceCase.Severity.values:
            raise ValidationError({"severity": _("Choose a severity.")})
        locked.category = category
        if severity != locked.severity:
            locked.severity = severity
            locked.due_at = locked.compute_due_at()
    elif to_status == S.ASSIGNED:
        units = list(units or [])
        if not units:
            raise ValidationError({"units": _("Choose at least one responsible unit.")})
        if responsible_user is None:
            raise ValidationError({"responsible_user": _("Choose the responsible person.")})
        locked.responsible_user = responsible_user
    elif to_status == S.SOLUTION_DRAFTED:
        locked.solution = _text(solution, "solution", _("Describe the solution."))
    elif to_status == S.RESULT_REPORTED:
        locked.result = _text(result, "result", _("Say what the customer was told."))
    locked.status = to_status
    locked.save()
    if to_status == S.ASSIGNED:
        locked.responsible_units.set(units)
        if responsible_user.pk != getattr(by, "pk", None):
            from sharing.services import notify

            notify(
                user=responsible_user,
                message=_("You are responsible for service case %(number)s.") % {"number": locked.number},
                url=locked.get_absolute_url(),
            )
    _case_event(locked, from_status=from_status, actor=by, note=note)
    return locked


def _score(value, field: str, low: int, high: int, message: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise ValidationError({field: message}) from None
    if not low <= value <= high:
        raise ValidationError({field: message})
    return value


@transaction.atomic
def case_close(
    *, case: ServiceCase, closed_by, satisfaction=None, recommend=None, resolution: str = "", note: str = ""
) -> ServiceCase:
    """Close a case, capturing the customer's satisfaction (1–5) and likelihood to recommend (0–10).

    Complaints close only after the result was reported; requests and feedback close from
    received, with an optional resolution. Both scores are optional but validated.
    """
    _require_case(closed_by, case)
    locked = ServiceCase.objects.select_for_update().get(pk=case.pk)
    if locked.next_status != ServiceCase.Status.CLOSED:
        raise _step_refused(locked, ServiceCase.Status.CLOSED)
    locked.satisfaction = _score(satisfaction, "satisfaction", 1, 5, _("Satisfaction is a score from 1 to 5."))
    locked.recommend = _score(recommend, "recommend", 0, 10, _("Likelihood to recommend is a score from 0 to 10."))
    locked.resolution = (resolution or "").strip()
    from_status = locked.status
    locked.status = ServiceCase.Status.CLOSED
    locked.closed_at = timezone.now()
    locked.save()
    _case_event(locked, from_status=from_status, actor=closed_by, note=(note or "").strip())
    return locked


@transaction.atomic
def case_reopen(*, case: ServiceCase, reopened_by, to_status: str, reason: str) -> ServiceCase:
    """Reopen a closed case to "assessed" or "received" (complaints) or "received" (others), with a reason.

    The earlier scores are dropped (kept in the history) and the due date restarts from now.
    """
    _require_case(reopened_by, case)
    locked = ServiceCase.objects.select_for_update().get(pk=case.pk)
    if locked.status != ServiceCase.Status.CLOSED:
        raise ValidationError(_("Only a closed case can be reopened."))
    if to_status not in locked.reopen_targets:
        raise ValidationError(
            {"to_status": _("A case can be reopened only to “Received” or, for complaints, “Assessed”.")}
        )
    reason = _text(reason, "reason", _("Say why the case is reopened."))
    history = reason
    if locked.satisfaction is not None or locked.recommend is not None:
        history = (
            f"{reason} [{locked.satisfaction or '-'}/5, {locked.recommend if locked.recommend is not None else '-'}/10]"
        )
    locked.status = to_status
    locked.closed_at = None
    locked.satisfaction = None
    locked.recommend = None
    locked.reopen_count += 1
    locked.due_at = timezone.now() + timedelta(days=service_level_days(locked.severity))
    locked.save()
    _case_event(locked, from_status=ServiceCase.Status.CLOSED, actor=reopened_by, note=history)
    return locked


# --- merge support --------------------------------------------------------------------------------

REPOINTED_MODELS = (Activity, Opportunity, Quote, Contract, Order, Shipment, Payment, ServiceCase)


@transaction.atomic
def customer_records_repoint(*, source, target) -> dict[str, list[int]]:
    """Move every interaction record of customer `source` to `target` (for customer_merge).

    Returns {model label: [ids]} for the merge journal; `customer_records_restore` undoes it.
    Bulk updates are invisible to auditlog, so the merge journal is the record of this write.
    """
    moved: dict[str, list[int]] = {}
    for model in REPOINTED_MODELS:
        ids = list(model.objects.filter(customer=source).values_list("pk", flat=True))
        if ids:
            model.objects.filter(pk__in=ids).update(customer=target)
            moved[model._meta.label_lower] = ids
    return moved


@transaction.atomic
def customer_records_restore(*, moved: dict[str, list[int]], customer) -> None:
    """Put records moved by customer_records_repoint back on `customer` (unmerge)."""
    by_label = {m._meta.label_lower: m for m in REPOINTED_MODELS}
    for label, ids in moved.items():
        by_label[label].objects.filter(pk__in=ids).update(customer=customer)


def campaigns_of(customer):
    """Campaigns the customer took part in (invited or further), the ones an opportunity may come from."""
    from interactions.campaign_models import Campaign, CampaignParticipation

    taken_part = CampaignParticipation.objects.filter(customer=customer).exclude(
        status=CampaignParticipation.Status.TARGETED
    )
    return Campaign.objects.filter(pk__in=taken_part.values("campaign_id")).order_by("-starts_on", "-pk")
