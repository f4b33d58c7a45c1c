"""Access requests: ask (also for a customer one cannot see), decide in the inbox, get notified."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from customers.tests.factories import ContactPointFactory, CustomerFactory
from sharing.models import AccessRequest, CustomerUserShare, Membership, Notification, UnmaskGrant
from sharing.services import access_request_create

PHONE = "13977778888"


@pytest.fixture
def beijing_customer(beijing_sales_rep, guangdong_sales_manager):
    """A Beijing customer; the Shenzhen rep cannot see it (their approver, the Guangdong manager, exists)."""
    customer = CustomerFactory(owner=beijing_sales_rep, name="北京保密客户")
    ContactPointFactory(customer=customer, value=PHONE)
    return customer


def request_url(customer, **params):
    from urllib.parse import urlencode

    return reverse("sharing:request_create", args=[customer.pk]) + ("?" + urlencode(params) if params else "")


def test_for_a_customer_they_cannot_see_the_page_shows_only_number_and_owning_unit(
    client_for, shenzhen_sales_rep, beijing_customer
):
    response = client_for(shenzhen_sales_rep).get(request_url(beijing_customer))
    assert response.status_code == 200
    html = response.content.decode()
    assert beijing_customer.number in html
    assert "北京保密客户" not in html
    assert PHONE not in html
    assert 'value="unmask"' not in html  # unmasking makes no sense for an invisible customer


def test_the_owning_unit_is_the_customers_unit(client_for, shenzhen_sales_rep, beijing_customer):
    html = client_for(shenzhen_sales_rep).get(request_url(beijing_customer)).content.decode()
    assert beijing_customer.org_unit.name in html


def test_a_request_for_an_invisible_customer_notifies_the_requesters_manager(
    client_for, shenzhen_sales_rep, guangdong_sales_manager, beijing_sales_manager, beijing_customer
):
    response = client_for(shenzhen_sales_rep).post(
        request_url(beijing_customer),
        {"kind": "view", "reason": "客户来电，需要查看", "duration_days": 3, "owner": shenzhen_sales_rep.pk},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("sharing:requests")
    access_request = AccessRequest.objects.get()
    assert (access_request.requester, access_request.customer, access_request.kind) == (
        shenzhen_sales_rep,
        beijing_customer,
        "view",
    )
    assert Notification.objects.filter(user=guangdong_sales_manager).exists()
    assert not Notification.objects.filter(user=beijing_sales_manager).exists()
    beijing_customer.refresh_from_db()
    assert beijing_customer.owner.username == "bj_rep"


def test_a_rejected_request_form_keeps_what_was_typed(client_for, shenzhen_sales_rep, beijing_customer):
    response = client_for(shenzhen_sales_rep).post(
        request_url(beijing_customer), {"kind": "view", "reason": "", "duration_days": 400}
    )
    assert response.status_code == 400
    assert 'value="400"' in response.content.decode()
    assert not AccessRequest.objects.exists()


def test_unmask_requests_need_a_field_group(
    client_for, shenzhen_sales_rep, guangzhou_sales_rep, guangdong_sales_manager
):
    from sharing.services import share_grant

    customer = CustomerFactory(owner=guangzhou_sales_rep)
    share_grant(customer=customer, action="view", user=shenzhen_sales_rep, granted_by=guangdong_sales_manager)
    client = client_for(shenzhen_sales_rep)
    page = client.get(request_url(customer, kind="unmask", field_group="contact")).content.decode()
    assert '<option value="unmask" selected>' in page
    assert '<option value="contact" selected>' in page
    response = client.post(
        request_url(customer), {"kind": "unmask", "field_group": "", "reason": "r", "duration_days": 1}
    )
    assert response.status_code == 400
    response = client.post(
        request_url(customer), {"kind": "unmask", "field_group": "contact", "reason": "回访", "duration_days": 1}
    )
    assert response.status_code == 302
    assert AccessRequest.objects.get().field_group == "contact"


def test_a_second_pending_request_for_the_same_thing_is_refused(client_for, shenzhen_sales_rep, beijing_customer):
    client = client_for(shenzhen_sales_rep)
    data = {"kind": "view", "reason": "r", "duration_days": 3}
    assert client.post(request_url(beijing_customer), data).status_code == 302
    assert client.post(request_url(beijing_customer), data).status_code == 400
    assert AccessRequest.objects.count() == 1


def test_someone_nobody_can_approve_for_gets_404_on_an_invisible_customer(client_for, outsider, beijing_customer):
    assert client_for(outsider).get(request_url(beijing_customer)).status_code == 404
    assert client_for(outsider).post(request_url(beijing_customer), {"kind": "view", "reason": "r"}).status_code == 404
    assert not AccessRequest.objects.exists()


def test_merged_and_missing_customers_answer_404(client_for, shenzhen_sales_rep, beijing_customer):
    Customer.objects.filter(pk=beijing_customer.pk).update(status=Customer.Status.MERGED)
    assert client_for(shenzhen_sales_rep).get(request_url(beijing_customer)).status_code == 404
    assert client_for(shenzhen_sales_rep).get("/sharing/customers/987654/request/").status_code == 404


# --- inbox and decisions


@pytest.fixture
def pending(shenzhen_sales_rep, beijing_customer):
    return access_request_create(
        requester=shenzhen_sales_rep, customer=beijing_customer, kind="view", reason="客户来电", duration_days=5
    )


def decide_url(access_request):
    return reverse("sharing:request_decide", args=[access_request.pk])


def test_the_manager_sees_the_request_in_the_inbox_and_approves_it(
    client_for, guangdong_sales_manager, shenzhen_sales_rep, pending, beijing_customer
):
    client = client_for(guangdong_sales_manager)
    html = client.get(reverse("sharing:inbox")).content.decode()
    assert f'data-request="{pending.pk}"' in html
    assert "北京保密客户" not in html  # the manager cannot see the Beijing customer either
    response = client.post(
        decide_url(pending), {f"r{pending.pk}-decision": "approve", f"r{pending.pk}-comment": "同意"}
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == "approved" and pending.decided_by == guangdong_sales_manager
    share = CustomerUserShare.objects.get(user=shenzhen_sales_rep, content_object=beijing_customer)
    assert timedelta(days=4) < share.expires_at - timezone.now() <= timedelta(days=5)
    assert Customer.objects.visible_to(shenzhen_sales_rep).filter(pk=beijing_customer.pk).exists()
    assert Notification.objects.filter(user=shenzhen_sales_rep, message__contains=beijing_customer.number).exists()
    assert LogEntry.objects.filter(additional_data__what="share_granted").exists()


def test_a_rejection_needs_a_comment_and_notifies_the_requester(
    client_for, guangdong_sales_manager, shenzhen_sales_rep, pending
):
    client = client_for(guangdong_sales_manager)
    response = client.post(decide_url(pending), {f"r{pending.pk}-decision": "reject"})
    assert response.status_code == 400
    pending.refresh_from_db()
    assert pending.status == "pending"
    response = client.post(
        decide_url(pending), {f"r{pending.pk}-decision": "reject", f"r{pending.pk}-comment": "不需要"}
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == "rejected"
    assert not CustomerUserShare.objects.exists()
    assert Notification.objects.filter(user=shenzhen_sales_rep).exists()


@pytest.mark.parametrize(
    "persona", ["beijing_sales_manager", "shenzhen_sales_rep", "hq_executive", "guangzhou_sales_rep", "outsider"]
)
def test_people_who_are_not_the_requesters_approver_get_404(request, client_for, pending, persona):
    client = client_for(request.getfixturevalue(persona))
    assert f'data-request="{pending.pk}"' not in client.get(reverse("sharing:inbox")).content.decode()
    response = client.post(decide_url(pending), {f"r{pending.pk}-decision": "approve"})
    assert response.status_code == 404
    pending.refresh_from_db()
    assert pending.status == "pending"
    assert not CustomerUserShare.objects.exists()


def test_a_delegate_decides_in_the_managers_place(client_for, guangdong_sales_manager, channel_manager, pending):
    Membership.objects.filter(user=guangdong_sales_manager).update(approval_delegate=channel_manager)
    client = client_for(channel_manager)
    assert f'data-request="{pending.pk}"' in client.get(reverse("sharing:inbox")).content.decode()
    response = client.post(decide_url(pending), {f"r{pending.pk}-decision": "approve"})
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.decided_by == channel_manager


def test_a_requester_who_is_the_delegate_cannot_approve_their_own_request(
    client_for, guangdong_sales_manager, shenzhen_sales_rep, pending
):
    Membership.objects.filter(user=guangdong_sales_manager).update(approval_delegate=shenzhen_sales_rep)
    response = client_for(shenzhen_sales_rep).post(decide_url(pending), {f"r{pending.pk}-decision": "approve"})
    assert response.status_code == 404
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_an_approved_unmask_request_creates_an_expiring_unmask_grant(
    client_for, guangdong_sales_manager, shenzhen_sales_rep, guangzhou_sales_rep
):
    from sharing.services import share_grant

    customer = CustomerFactory(owner=guangzhou_sales_rep)
    share_grant(customer=customer, action="view", user=shenzhen_sales_rep, granted_by=guangdong_sales_manager)
    access_request = access_request_create(
        requester=shenzhen_sales_rep,
        customer=customer,
        kind="unmask",
        field_group="contact",
        reason="r",
        duration_days=1,
    )
    client_for(guangdong_sales_manager).post(decide_url(access_request), {f"r{access_request.pk}-decision": "approve"})
    unmask = UnmaskGrant.objects.get(user=shenzhen_sales_rep, customer=customer)
    assert unmask.field_group == "contact" and unmask.expires_at is not None


def test_a_decided_request_is_no_longer_in_the_inbox(client_for, guangdong_sales_manager, pending):
    client = client_for(guangdong_sales_manager)
    client.post(decide_url(pending), {f"r{pending.pk}-decision": "approve"})
    assert (
        client.post(
            decide_url(pending), {f"r{pending.pk}-decision": "reject", f"r{pending.pk}-comment": "x"}
        ).status_code
        == 404
    )


def test_my_requests_lists_status_and_lets_me_withdraw(
    client_for, shenzhen_sales_rep, pending, beijing_sales_rep, beijing_sales_manager
):
    client = client_for(shenzhen_sales_rep)
    html = client.get(reverse("sharing:requests")).content.decode()
    assert f'data-request="{pending.pk}"' in html
    assert "北京保密客户" not in html
    response = client.post(reverse("sharing:request_withdraw", args=[pending.pk]))
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == "withdrawn"
    # Someone else's request cannot be withdrawn.
    other = access_request_create(
        requester=beijing_sales_rep, customer=CustomerFactory(), kind="view", reason="r", duration_days=1
    )
    assert client.post(reverse("sharing:request_withdraw", args=[other.pk])).status_code == 404


def test_the_inbox_needs_a_constant_number_of_queries(
    client_for, guangdong_sales_manager, shenzhen_sales_rep, django_assert_max_num_queries
):
    for _ in range(12):
        access_request_create(
            requester=shenzhen_sales_rep, customer=CustomerFactory(), kind="view", reason="r", duration_days=1
        )
    client = client_for(guangdong_sales_manager)
    with django_assert_max_num_queries(16):
        response = client.get(reverse("sharing:inbox"))
    assert response.content.decode().count("data-request=") == 12


# --- notifications


def test_opening_the_notifications_marks_them_read(client_for, shenzhen_sales_rep):
    from sharing.services import notify

    notify(user=shenzhen_sales_rep, message="您的申请已批准", url="/sharing/requests/")
    client = client_for(shenzhen_sales_rep)
    badge = client.get(reverse("sharing:notifications_badge"))
    assert badge.status_code == 200 and 'data-count="1"' in badge.content.decode()
    html = client.get(reverse("sharing:notifications")).content.decode()
    assert "您的申请已批准" in html
    assert not Notification.objects.filter(user=shenzhen_sales_rep, is_read=False).exists()
    assert 'data-count="0"' in client.get(reverse("sharing:notifications_badge")).content.decode()


def test_notifications_are_private(client_for, shenzhen_sales_rep, guangzhou_sales_rep):
    from sharing.services import notify

    notify(user=shenzhen_sales_rep, message="只给深圳的消息")
    html = client_for(guangzhou_sales_rep).get(reverse("sharing:notifications")).content.decode()
    assert "只给深圳的消息" not in html
    assert Notification.objects.get().is_read is False


def test_the_header_shows_the_unread_count(client_for, shenzhen_sales_rep):
    from sharing.selectors import notification_unread_count
    from sharing.services import notify

    notify(user=shenzhen_sales_rep, message="a")
    notify(user=shenzhen_sales_rep, message="b")
    assert notification_unread_count(user=shenzhen_sales_rep) == 2
