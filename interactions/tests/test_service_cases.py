"""Service cases: the complaint workflow step by step, the short flow, closing scores, reopening, due dates."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from interactions.models import ServiceCase, service_level_days
from interactions.services import case_advance, case_close, case_open, case_reopen
from interactions.tests.factories import ServiceCaseFactory
from sharing.models import Notification

S = ServiceCase.Status


@pytest.fixture
def complaint(service_agent, shenzhen_sales_rep):
    return case_open(
        customer=CustomerFactory(owner=shenzhen_sales_rep),
        opened_by=service_agent,
        type="complaint",
        subject="空调漏水",
        category="product_quality",
    )


def _step_data(org, user, to_status):
    return {
        S.ASSESSED: {"note": "确认问题属实"},
        S.CLASSIFIED: {"category": "product_quality", "severity": "major"},
        S.ASSIGNED: {"units": [org["GD-SZ"], org["HQ-SVC"]], "responsible_user": user},
        S.SOLUTION_DRAFTED: {"solution": "上门更换部件"},
        S.SOLUTION_DONE: {"note": "已更换"},
        S.RESULT_REPORTED: {"result": "已电话告知客户"},
    }[to_status]


def _advance_to(case, status, org, user):
    while case.status != status:
        to_status = case.next_status
        case = case_advance(case=case, to_status=to_status, by=user, **_step_data(org, user, to_status))
    return case


def test_a_complaint_gets_a_due_date_from_its_severitys_service_level(complaint):
    assert complaint.status == S.RECEIVED
    assert complaint.number.startswith(f"SC{timezone.localdate().year}")
    assert complaint.due_at == complaint.received_at + timedelta(days=service_level_days("normal"))
    assert service_level_days("major") < service_level_days("normal")


def test_a_complaint_walks_the_whole_workflow(complaint, service_agent, guangdong_sales_manager, org):
    case = _advance_to(complaint, S.RESULT_REPORTED, org, guangdong_sales_manager)
    assert case.severity == "major"
    assert case.due_at == case.received_at + timedelta(days=service_level_days("major"))
    assert set(case.responsible_units.all()) == {org["GD-SZ"], org["HQ-SVC"]}
    assert case.responsible_user == guangdong_sales_manager
    closed = case_close(case=case, closed_by=service_agent, satisfaction=4, recommend=9)
    assert closed.status == S.CLOSED and closed.closed_at is not None
    assert (closed.satisfaction, closed.recommend) == (4, 9)
    assert [e.to_status for e in closed.events.all()] == list(ServiceCase.COMPLAINT_FLOW)


@pytest.mark.parametrize(
    "at, target",
    [
        (S.RECEIVED, S.CLASSIFIED),
        (S.RECEIVED, S.SOLUTION_DRAFTED),
        (S.ASSESSED, S.ASSIGNED),
        (S.CLASSIFIED, S.SOLUTION_DRAFTED),
        (S.ASSIGNED, S.SOLUTION_DONE),
        (S.SOLUTION_DRAFTED, S.RESULT_REPORTED),
    ],
)
def test_a_step_cannot_be_skipped(complaint, service_agent, org, at, target):
    case = _advance_to(complaint, at, org, service_agent)
    with pytest.raises(ValidationError) as exc:
        case_advance(case=case, to_status=target, by=service_agent, **_step_data(org, service_agent, target))
    assert "skipped" in exc.value.messages[0] or "跳过" in exc.value.messages[0]
    case.refresh_from_db()
    assert case.status == at


@pytest.mark.parametrize("at, target", [(S.CLASSIFIED, S.ASSESSED), (S.RESULT_REPORTED, S.ASSIGNED)])
def test_a_step_cannot_run_backwards(complaint, service_agent, org, at, target):
    case = _advance_to(complaint, at, org, service_agent)
    with pytest.raises(ValidationError) as exc:
        case_advance(case=case, to_status=target, by=service_agent, **_step_data(org, service_agent, target))
    assert "backwards" in exc.value.messages[0] or "倒退" in exc.value.messages[0]


def test_a_complaint_cannot_close_before_the_result_is_reported(complaint, service_agent, org):
    case = _advance_to(complaint, S.SOLUTION_DONE, org, service_agent)
    with pytest.raises(ValidationError):
        case_close(case=case, closed_by=service_agent)


def test_a_step_needs_its_data(complaint, service_agent, org):
    case = _advance_to(complaint, S.CLASSIFIED, org, service_agent)
    with pytest.raises(ValidationError) as exc:
        case_advance(case=case, to_status=S.ASSIGNED, by=service_agent, units=[], responsible_user=service_agent)
    assert "units" in exc.value.error_dict
    with pytest.raises(ValidationError) as exc:
        case_advance(case=case, to_status=S.ASSIGNED, by=service_agent, units=[org["GD"]])
    assert "responsible_user" in exc.value.error_dict


def test_assigning_notifies_the_responsible_person(complaint, service_agent, guangdong_sales_manager, org):
    case = _advance_to(complaint, S.CLASSIFIED, org, service_agent)
    case_advance(
        case=case, to_status=S.ASSIGNED, by=service_agent, units=[org["GD"]], responsible_user=guangdong_sales_manager
    )
    assert Notification.objects.filter(user=guangdong_sales_manager, message__contains=complaint.number).exists()


@pytest.mark.parametrize("satisfaction, recommend", [(0, 5), (6, 5), (3, 11), (3, -1), ("x", 5)])
def test_closing_scores_are_validated(complaint, service_agent, org, satisfaction, recommend):
    case = _advance_to(complaint, S.RESULT_REPORTED, org, service_agent)
    with pytest.raises(ValidationError):
        case_close(case=case, closed_by=service_agent, satisfaction=satisfaction, recommend=recommend)


def test_closing_scores_are_optional(complaint, service_agent, org):
    case = _advance_to(complaint, S.RESULT_REPORTED, org, service_agent)
    closed = case_close(case=case, closed_by=service_agent)
    assert closed.satisfaction is None and closed.recommend is None


@pytest.mark.parametrize("case_type", ["request", "feedback"])
def test_requests_and_feedback_close_straight_from_received(service_agent, shenzhen_sales_rep, case_type):
    case = case_open(
        customer=CustomerFactory(owner=shenzhen_sales_rep), opened_by=service_agent, type=case_type, subject="咨询"
    )
    assert case.next_status == S.CLOSED
    with pytest.raises(ValidationError):
        case_advance(case=case, to_status=S.ASSESSED, by=service_agent)
    closed = case_close(case=case, closed_by=service_agent, resolution="已答复", satisfaction=5)
    assert closed.status == S.CLOSED and closed.resolution == "已答复"
    reopened = case_reopen(case=closed, reopened_by=service_agent, to_status=S.RECEIVED, reason="客户追问")
    assert reopened.status == S.RECEIVED


@pytest.mark.parametrize("target", [S.ASSESSED, S.RECEIVED])
def test_a_closed_complaint_reopens_to_assessed_or_received_with_a_reason(complaint, service_agent, org, target):
    case = case_close(case=_advance_to(complaint, S.RESULT_REPORTED, org, service_agent), closed_by=service_agent)
    with pytest.raises(ValidationError):
        case_reopen(case=case, reopened_by=service_agent, to_status=target, reason=" ")
    with pytest.raises(ValidationError):
        case_reopen(case=case, reopened_by=service_agent, to_status=S.SOLUTION_DONE, reason="再处理")
    reopened = case_reopen(case=case, reopened_by=service_agent, to_status=target, reason="客户不满意")
    assert reopened.status == target and reopened.reopen_count == 1 and reopened.closed_at is None
    assert reopened.due_at > timezone.now()


def test_an_open_case_cannot_be_reopened(complaint, service_agent):
    with pytest.raises(ValidationError):
        case_reopen(case=complaint, reopened_by=service_agent, to_status=S.RECEIVED, reason="x")


def test_a_closed_case_takes_no_more_steps(complaint, service_agent, org):
    case = case_close(case=_advance_to(complaint, S.RESULT_REPORTED, org, service_agent), closed_by=service_agent)
    with pytest.raises(ValidationError):
        case_advance(case=case, to_status=S.ASSESSED, by=service_agent)


def test_a_case_received_in_the_future_is_refused(service_agent, shenzhen_sales_rep):
    with pytest.raises(ValidationError):
        case_open(
            customer=CustomerFactory(owner=shenzhen_sales_rep),
            opened_by=service_agent,
            subject="x",
            received_at=timezone.now() + timedelta(days=1),
        )


def test_overdue_cases(shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    late = ServiceCaseFactory(customer=customer, due_at=timezone.now() - timedelta(hours=1))
    ServiceCaseFactory(customer=customer)
    ServiceCaseFactory(customer=customer, due_at=timezone.now() - timedelta(days=1), status=S.CLOSED)
    assert list(ServiceCase.objects.overdue()) == [late]
    assert late.is_overdue


def test_read_only_roles_do_not_work_cases(complaint, auditor):
    with pytest.raises(PermissionDenied):
        case_advance(case=complaint, to_status=S.ASSESSED, by=auditor)


# --- pages ----------------------------------------------------------------------------------------


def test_the_case_page_offers_only_the_next_step(client_for, complaint, service_agent):
    body = client_for(service_agent).get(reverse("interactions:case_detail", args=[complaint.pk])).content.decode()
    assert 'name="to_status" value="assessed"' in body
    assert 'value="classified"' not in body


def test_a_skipped_step_posted_by_hand_is_refused_with_a_message(client_for, complaint, service_agent):
    response = client_for(service_agent).post(
        reverse("interactions:case_advance", args=[complaint.pk]), {"to_status": "solution_drafted", "solution": "x"}
    )
    assert response.status_code == 200 and "form-errors" in response.content.decode()
    complaint.refresh_from_db()
    assert complaint.status == S.RECEIVED


def test_the_case_list_filters_open_and_overdue(
    client_for, service_agent, shenzhen_sales_rep, django_assert_max_num_queries
):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    late = ServiceCaseFactory(customer=customer, subject="逾期投诉", due_at=timezone.now() - timedelta(hours=1))
    fresh = ServiceCaseFactory(customer=customer, subject="新投诉")
    closed = ServiceCaseFactory(customer=customer, subject="已关闭投诉", status=S.CLOSED)
    client = client_for(service_agent)
    url = reverse("interactions:case_list")
    open_page = client.get(url).content.decode()
    assert late.subject in open_page and fresh.subject in open_page and closed.subject not in open_page
    overdue_page = client.get(url, {"show": "overdue"}).content.decode()
    assert late.subject in overdue_page and fresh.subject not in overdue_page
    with django_assert_max_num_queries(12):
        client.get(url, {"show": "all"})
    for _ in range(20):
        ServiceCaseFactory(customer=customer)
    with django_assert_max_num_queries(12):
        client.get(url, {"show": "all"})


def test_a_case_is_opened_from_the_customer_and_closed_with_scores_on_the_pages(
    client_for, service_agent, shenzhen_sales_rep
):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    client = client_for(service_agent)
    client.post(
        reverse("interactions:case_create") + f"?customer={customer.pk}",
        {"type": "request", "subject": "索要发票", "category": "other", "severity": "normal"},
    )
    case = ServiceCase.objects.get(customer=customer)
    close_url = reverse("interactions:case_close", args=[case.pk])
    refused = client.post(close_url, {"satisfaction": "9"})
    assert refused.status_code == 200 and "field__errors" in refused.content.decode()
    client.post(close_url, {"satisfaction": "5", "recommend": "10", "resolution": "已寄出"})
    case.refresh_from_db()
    assert case.status == S.CLOSED and case.satisfaction == 5 and case.recommend == 10


def test_case_create_without_a_customer_searches_visible_customers(client_for, beijing_sales_rep, shenzhen_sales_rep):
    hidden = CustomerFactory(owner=shenzhen_sales_rep, name="深圳隐藏客户")
    mine = CustomerFactory(owner=beijing_sales_rep, name="北京可见客户")
    client = client_for(beijing_sales_rep)
    body = client.get(reverse("interactions:case_create"), {"q": mine.number}).content.decode()
    assert mine.name in body
    body = client.get(reverse("interactions:case_create"), {"q": hidden.number}).content.decode()
    assert hidden.name not in body
