"""The sales chain: opportunity stages, quote → contract → order → shipment, payments and numbers."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from interactions.models import Contract, Opportunity, Order, Payment, Quote, Shipment
from interactions.services import (
    contract_create,
    contract_open_amount,
    document_number_issue,
    document_transition,
    opportunity_advance,
    opportunity_create,
    order_create,
    payment_mark_paid,
    payment_record,
    quote_create,
    shipment_create,
)
from interactions.tests.factories import (
    ContractFactory,
    OpportunityFactory,
    OrderFactory,
    PaymentFactory,
    QuoteFactory,
)

TODAY = timezone.localdate


# --- opportunities --------------------------------------------------------------------------------


def test_a_rep_creates_an_opportunity_in_cny_by_default(shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    opp = opportunity_create(customer=customer, created_by=shenzhen_sales_rep, name="空调改造", amount="120000")
    assert opp.currency == "CNY" and opp.stage == "lead" and opp.owner == shenzhen_sales_rep
    assert opp.amount == Decimal("120000")


def test_a_negative_amount_is_refused(shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    with pytest.raises(ValidationError) as exc:
        opportunity_create(customer=customer, created_by=shenzhen_sales_rep, name="x", amount="-1")
    assert "amount" in exc.value.error_dict


def test_an_opportunity_needs_change_access_to_the_customer(shenzhen_sales_rep, hq_executive, service_agent):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    with pytest.raises(PermissionDenied):  # sees all, changes only own
        opportunity_create(customer=customer, created_by=hq_executive, name="x")
    with pytest.raises(PermissionDenied):  # service does not see opportunities
        opportunity_create(customer=customer, created_by=service_agent, name="x")


@pytest.mark.parametrize("stage", ["qualified", "proposal", "negotiation", "won"])
def test_an_open_opportunity_moves_to_another_stage(shenzhen_sales_rep, stage):
    opp = OpportunityFactory(customer=CustomerFactory(owner=shenzhen_sales_rep))
    moved = opportunity_advance(opportunity=opp, stage=stage, changed_by=shenzhen_sales_rep)
    assert moved.stage == stage
    assert moved.probability == Opportunity.DEFAULT_PROBABILITY[stage]
    assert (moved.closed_at is not None) == (stage == "won")


def test_losing_an_opportunity_needs_a_reason(shenzhen_sales_rep):
    opp = OpportunityFactory(customer=CustomerFactory(owner=shenzhen_sales_rep))
    with pytest.raises(ValidationError) as exc:
        opportunity_advance(opportunity=opp, stage="lost", changed_by=shenzhen_sales_rep, reason="  ")
    assert "reason" in exc.value.error_dict
    lost = opportunity_advance(opportunity=opp, stage="lost", changed_by=shenzhen_sales_rep, reason="价格太高")
    assert lost.close_reason == "价格太高" and lost.probability == 0


@pytest.mark.parametrize("closed", ["won", "lost"])
def test_a_closed_opportunity_stays_closed(shenzhen_sales_rep, closed):
    opp = OpportunityFactory(customer=CustomerFactory(owner=shenzhen_sales_rep), stage=closed)
    with pytest.raises(ValidationError):
        opportunity_advance(opportunity=opp, stage="negotiation", changed_by=shenzhen_sales_rep)


def test_moving_to_the_same_stage_is_refused(shenzhen_sales_rep):
    opp = OpportunityFactory(customer=CustomerFactory(owner=shenzhen_sales_rep))
    with pytest.raises(ValidationError):
        opportunity_advance(opportunity=opp, stage="lead", changed_by=shenzhen_sales_rep)


# --- the chain ------------------------------------------------------------------------------------


def test_the_whole_chain_from_opportunity_to_shipment(shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    opp = OpportunityFactory(customer=customer, amount=Decimal("80000"))
    quote = quote_create(opportunity=opp, created_by=shenzhen_sales_rep, amount="80000")
    contract = contract_create(
        quote=quote, created_by=shenzhen_sales_rep, start_on=TODAY(), end_on=TODAY() + timedelta(days=365)
    )
    order = order_create(contract=contract, created_by=shenzhen_sales_rep, amount="40000")
    shipment = shipment_create(order=order, created_by=shenzhen_sales_rep, carrier="顺丰", shipped_on=TODAY())

    year = TODAY().year
    assert quote.number.startswith(f"Q{year}") and len(quote.number) == 11
    assert contract.number.startswith(f"CT{year}") and contract.amount == Decimal("80000")
    assert order.number.startswith(f"SO{year}") and order.currency == contract.currency
    assert shipment.number.startswith(f"SH{year}") and shipment.status == "shipped"
    assert {d.customer for d in (quote, contract, order, shipment)} == {customer}


def test_a_contract_cannot_end_before_it_starts(shenzhen_sales_rep):
    quote = QuoteFactory(opportunity__customer=CustomerFactory(owner=shenzhen_sales_rep))
    with pytest.raises(ValidationError) as exc:
        contract_create(quote=quote, created_by=shenzhen_sales_rep, start_on=TODAY(), end_on=TODAY() - timedelta(1))
    assert "end_on" in exc.value.error_dict


def test_a_rejected_quote_cannot_become_a_contract(shenzhen_sales_rep):
    quote = QuoteFactory(opportunity__customer=CustomerFactory(owner=shenzhen_sales_rep), status="rejected")
    with pytest.raises(ValidationError):
        contract_create(quote=quote, created_by=shenzhen_sales_rep, start_on=TODAY(), end_on=TODAY())


def test_a_lost_opportunity_cannot_be_quoted(shenzhen_sales_rep):
    opp = OpportunityFactory(customer=CustomerFactory(owner=shenzhen_sales_rep), stage="lost")
    with pytest.raises(ValidationError):
        quote_create(opportunity=opp, created_by=shenzhen_sales_rep, amount="1")


def test_an_order_placed_next_week_is_refused(shenzhen_sales_rep):
    contract = ContractFactory(quote__opportunity__customer=CustomerFactory(owner=shenzhen_sales_rep))
    with pytest.raises(ValidationError) as exc:
        order_create(contract=contract, created_by=shenzhen_sales_rep, amount="1", ordered_on=TODAY() + timedelta(7))
    assert "ordered_on" in exc.value.error_dict


def test_documents_move_only_along_their_statuses(shenzhen_sales_rep):
    quote = QuoteFactory(opportunity__customer=CustomerFactory(owner=shenzhen_sales_rep))
    with pytest.raises(ValidationError):
        document_transition(document=quote, status="accepted", changed_by=shenzhen_sales_rep)  # draft → accepted
    quote = document_transition(document=quote, status="sent", changed_by=shenzhen_sales_rep)
    quote = document_transition(document=quote, status="accepted", changed_by=shenzhen_sales_rep)
    with pytest.raises(ValidationError):
        document_transition(document=quote, status="draft", changed_by=shenzhen_sales_rep)


def test_a_shipment_records_its_dates_as_it_moves(shenzhen_sales_rep):
    order = OrderFactory(contract__quote__opportunity__customer=CustomerFactory(owner=shenzhen_sales_rep))
    shipment = shipment_create(order=order, created_by=shenzhen_sales_rep)
    assert shipment.status == "prepared" and shipment.shipped_on is None
    shipment = document_transition(document=shipment, status="shipped", changed_by=shenzhen_sales_rep)
    shipment = document_transition(document=shipment, status="delivered", changed_by=shenzhen_sales_rep)
    assert shipment.shipped_on == TODAY() and shipment.delivered_on == TODAY()


# --- payments -------------------------------------------------------------------------------------


def test_finance_records_payments_up_to_the_open_amount(finance_clerk, shenzhen_sales_rep):
    contract = ContractFactory(
        quote__opportunity__customer=CustomerFactory(owner=shenzhen_sales_rep), amount=Decimal("100000")
    )
    payment_record(contract=contract, recorded_by=finance_clerk, amount="60000", due_on=TODAY())
    assert contract_open_amount(contract) == Decimal("40000")
    payment = payment_record(contract=contract, recorded_by=finance_clerk, amount="40000", due_on=TODAY())
    assert payment.status == "open" and payment.currency == contract.currency
    assert contract_open_amount(contract) == 0


def test_a_payment_over_the_open_amount_needs_an_override_note(finance_clerk, shenzhen_sales_rep):
    contract = ContractFactory(
        quote__opportunity__customer=CustomerFactory(owner=shenzhen_sales_rep), amount=Decimal("100000")
    )
    PaymentFactory(contract=contract, amount=Decimal("90000"))
    with pytest.raises(ValidationError) as exc:
        payment_record(contract=contract, recorded_by=finance_clerk, amount="10000.01", due_on=TODAY())
    assert "amount" in exc.value.error_dict and "10000.00" in exc.value.messages[0]
    payment = payment_record(
        contract=contract, recorded_by=finance_clerk, amount="10000.01", due_on=TODAY(), override_note="含运费"
    )
    assert payment.override_note == "含运费"


def test_cancelled_payments_do_not_use_up_the_open_amount(finance_clerk, shenzhen_sales_rep):
    contract = ContractFactory(
        quote__opportunity__customer=CustomerFactory(owner=shenzhen_sales_rep), amount=Decimal("100")
    )
    PaymentFactory(contract=contract, amount=Decimal("100"), status="cancelled")
    assert payment_record(contract=contract, recorded_by=finance_clerk, amount="100", due_on=TODAY())


def test_a_payment_paid_tomorrow_is_refused(finance_clerk, shenzhen_sales_rep):
    contract = ContractFactory(quote__opportunity__customer=CustomerFactory(owner=shenzhen_sales_rep))
    with pytest.raises(ValidationError) as exc:
        payment_record(
            contract=contract,
            recorded_by=finance_clerk,
            amount="1",
            due_on=TODAY(),
            paid_on=TODAY() + timedelta(days=1),
        )
    assert "paid_on" in exc.value.error_dict
    payment = PaymentFactory(contract=contract)
    with pytest.raises(ValidationError):
        payment_mark_paid(payment=payment, recorded_by=finance_clerk, paid_on=TODAY() + timedelta(days=1))
    assert payment_mark_paid(payment=payment, recorded_by=finance_clerk, paid_on=TODAY()).status == "paid"


def test_sales_and_auditors_do_not_record_payments(shenzhen_sales_rep, auditor):
    contract = ContractFactory(quote__opportunity__customer=CustomerFactory(owner=shenzhen_sales_rep))
    for user in (shenzhen_sales_rep, auditor):
        with pytest.raises(PermissionDenied):
            payment_record(contract=contract, recorded_by=user, amount="1", due_on=TODAY())


def test_an_order_of_another_contract_is_refused(finance_clerk, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    contract = ContractFactory(quote__opportunity__customer=customer)
    other_order = OrderFactory(contract__quote__opportunity__customer=customer)
    with pytest.raises(ValidationError):
        payment_record(contract=contract, recorded_by=finance_clerk, amount="1", due_on=TODAY(), order=other_order)


def test_overdue_payments(shenzhen_sales_rep):
    contract = ContractFactory(quote__opportunity__customer=CustomerFactory(owner=shenzhen_sales_rep))
    late = PaymentFactory(contract=contract, due_on=TODAY() - timedelta(days=1))
    PaymentFactory(contract=contract, due_on=TODAY())
    PaymentFactory(contract=contract, due_on=TODAY() - timedelta(days=5), status="paid", paid_on=TODAY())
    assert list(Payment.objects.overdue()) == [late]
    assert late.is_overdue


# --- numbers --------------------------------------------------------------------------------------


def test_numbers_count_up_per_document_type_and_year(db):
    first, second = document_number_issue(Quote), document_number_issue(Quote)
    assert int(second[-6:]) == int(first[-6:]) + 1
    assert document_number_issue(Contract).startswith("CT")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_issuers_never_get_the_same_number():
    if connection.vendor != "postgresql":
        # The in-memory SQLite test database answers concurrent writers with "table is locked"
        # at once (shared cache has no busy timeout): the property is PostgreSQL's row locks.
        pytest.skip("needs PostgreSQL row locks between connections")
    numbers, errors = [], []

    def issue():
        try:
            for _ in range(10):
                numbers.append(document_number_issue(Order))
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(numbers) == 60 and len(set(numbers)) == 60


# --- pages ----------------------------------------------------------------------------------------


def test_a_rep_creates_an_opportunity_and_moves_it_on_the_pages(client_for, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    client = client_for(shenzhen_sales_rep)
    response = client.post(
        reverse("interactions:opportunity_create", args=[customer.pk]),
        {"name": "新风系统", "amount": "50000", "currency": "CNY"},
    )
    opp = Opportunity.objects.get(customer=customer)
    assert response.url == reverse("interactions:opportunity_detail", args=[opp.pk])

    refused = client.post(reverse("interactions:opportunity_stage", args=[opp.pk]), {"stage": "lost", "reason": ""})
    assert refused.status_code == 200 and "field__errors" in refused.content.decode()
    client.post(reverse("interactions:opportunity_stage", args=[opp.pk]), {"stage": "proposal"})
    opp.refresh_from_db()
    assert opp.stage == "proposal"


def test_a_rejected_form_keeps_what_the_user_typed(client_for, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    response = client_for(shenzhen_sales_rep).post(
        reverse("interactions:opportunity_create", args=[customer.pk]),
        {"name": "保留的名称", "amount": "-5", "currency": "CNY"},
    )
    body = response.content.decode()
    assert response.status_code == 200 and "保留的名称" in body and "field__errors" in body
    assert not Opportunity.objects.exists()


def test_each_document_is_created_from_the_one_before_on_the_pages(client_for, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    opp = OpportunityFactory(customer=customer)
    client = client_for(shenzhen_sales_rep)
    today = TODAY().isoformat()

    client.post(
        reverse("interactions:quote_create", args=[opp.pk]), {"amount": "1000", "currency": "CNY", "issued_on": today}
    )
    quote = Quote.objects.get(opportunity=opp)
    client.post(
        reverse("interactions:contract_create", args=[quote.pk]),
        {"amount": "1000", "start_on": today, "end_on": (TODAY() + timedelta(365)).isoformat()},
    )
    contract = Contract.objects.get(quote=quote)
    client.post(reverse("interactions:order_create", args=[contract.pk]), {"amount": "500", "ordered_on": today})
    order = Order.objects.get(contract=contract)
    client.post(reverse("interactions:shipment_create", args=[order.pk]), {"carrier": "德邦"})
    shipment = Shipment.objects.get(order=order)
    page = client.get(reverse("interactions:shipment_detail", args=[shipment.pk])).content.decode()
    assert shipment.number in page and order.number in page

    client.post(reverse("interactions:document_status", args=["shipment", shipment.pk]), {"status": "shipped"})
    shipment.refresh_from_db()
    assert shipment.status == "shipped"


def test_finance_records_a_payment_on_the_page_and_sees_the_override_rule(
    client_for, finance_clerk, shenzhen_sales_rep
):
    contract = ContractFactory(
        quote__opportunity__customer=CustomerFactory(owner=shenzhen_sales_rep), amount=Decimal("1000")
    )
    client = client_for(finance_clerk)
    url = reverse("interactions:payment_create", args=[contract.customer_id])
    assert contract.number in client.get(url).content.decode()
    data = {"contract": contract.pk, "amount": "1500", "due_on": TODAY().isoformat()}
    refused = client.post(url, data)
    assert refused.status_code == 200 and "1500" in refused.content.decode()
    assert not Payment.objects.exists()
    response = client.post(url, {**data, "override_note": "客户预付下一期"})
    payment = Payment.objects.get()
    assert response.url == reverse("interactions:payment_detail", args=[payment.pk])

    client.post(reverse("interactions:payment_paid", args=[payment.pk]), {"paid_on": TODAY().isoformat()})
    payment.refresh_from_db()
    assert payment.status == "paid"


def test_the_receivables_list_shows_open_and_overdue_payments_to_finance(
    client_for, finance_clerk, shenzhen_sales_rep, django_assert_max_num_queries
):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    contract = ContractFactory(quote__opportunity__customer=customer, amount=Decimal("1000000"))
    late = PaymentFactory(contract=contract, due_on=TODAY() - timedelta(days=3))
    soon = PaymentFactory(contract=contract, due_on=TODAY() + timedelta(days=3))
    paid = PaymentFactory(contract=contract, status="paid", paid_on=TODAY())
    client = client_for(finance_clerk)
    url = reverse("interactions:receivables")

    body = client.get(url).content.decode()
    assert late.number in body and soon.number in body and paid.number not in body
    overdue = client.get(url, {"show": "overdue"}).content.decode()
    assert late.number in overdue and soon.number not in overdue

    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _ in range(20):
        PaymentFactory(contract=contract)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)


def test_the_opportunity_list_shows_mine_and_my_teams(
    client_for, guangdong_sales_manager, shenzhen_sales_rep, beijing_sales_rep, django_assert_max_num_queries
):
    mine = OpportunityFactory(customer=CustomerFactory(owner=shenzhen_sales_rep), name="深圳项目")
    OpportunityFactory(customer=CustomerFactory(owner=beijing_sales_rep), name="北京项目")
    url = reverse("interactions:opportunity_list")

    rep_page = client_for(shenzhen_sales_rep).get(url).content.decode()
    assert mine.name in rep_page and "北京项目" not in rep_page

    manager = client_for(guangdong_sales_manager)
    assert "深圳项目" not in manager.get(url).content.decode()  # "mine": owns none
    team_page = manager.get(url, {"scope": "team"}).content.decode()
    assert "深圳项目" in team_page and "北京项目" not in team_page

    with CaptureQueriesContext(connection) as few:
        manager.get(url, {"scope": "team"})
    for _ in range(20):
        OpportunityFactory(customer=CustomerFactory(owner=shenzhen_sales_rep))
    with django_assert_max_num_queries(len(few.captured_queries)):
        manager.get(url, {"scope": "team", "stage": "lead"})


def test_opportunities_without_an_owner_show_on_the_list_and_their_page(client_for, shenzhen_sales_rep):
    """An opportunity's owner may be gone (SET_NULL, imports): the list (every scope and stage) and the
    opportunity's page show "—" instead of failing on the template's `owner.username`."""
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    orphan = OpportunityFactory(customer=customer, owner=None, stage="won", name="无负责人商机")
    client = client_for(shenzhen_sales_rep)
    for query in ("", "?scope=all", "?scope=all&stage=won"):
        response = client.get(reverse("interactions:opportunity_list") + query)
        assert response.status_code == 200
    assert "无负责人商机" in response.content.decode()
    response = client.get(orphan.get_absolute_url())
    assert response.status_code == 200 and "—" in response.content.decode()


def test_stage_counts_of_a_see_all_viewer_stop_at_the_lists_cap(
    client_for, hq_executive, shenzhen_sales_rep, monkeypatch
):
    """A viewer who sees every opportunity gets each stage counted up to the list's cap ("3+") instead
    of a count of every opportunity (96 ms for 500,000); the numbers below the cap stay exact."""
    from crm import pagination

    if connection.vendor != "postgresql":
        pytest.skip("capped stage counts are PostgreSQL's")
    monkeypatch.setattr(pagination, "DEFAULT_CAP", 3)
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    for _ in range(5):
        OpportunityFactory(customer=customer, stage="lead")
    OpportunityFactory(customer=customer, stage="won")
    from interactions import selectors

    assert selectors.opportunity_list(user=hq_executive, scope="all")[1] == {"lead": 4, "won": 1}  # cap + 1: "3+"
    content = client_for(hq_executive).get(reverse("interactions:opportunity_list") + "?scope=all").content.decode()
    assert "(3+)" in content  # leads, and the total
    assert "(1)" in content  # won, exact
    # The rep's list (a visibility predicate) is grouped, exactly; the page caps what it shows the same way.
    assert selectors.opportunity_list(user=shenzhen_sales_rep, scope="all")[1] == {"lead": 5, "won": 1}
