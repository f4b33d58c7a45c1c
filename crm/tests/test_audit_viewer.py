"""The audit trail viewer: access, filters, attribution, and a scripted day with nothing unlogged (T2)."""

from datetime import timedelta

from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from customers.models import ContactPoint, Customer
from customers.services import ContactInput, CustomerInput, customer_create, customer_update
from customers.tests.factories import CustomerFactory
from sharing.models import Action
from sharing.services import share_grant, share_revoke


def test_viewer_is_404_for_roles_without_the_audit_flag(client_for, shenzhen_sales_rep, guangdong_sales_manager):
    assert client_for(shenzhen_sales_rep).get(reverse("audit:log")).status_code == 404
    assert client_for(guangdong_sales_manager).get(reverse("audit:logins")).status_code == 404


def test_auditor_and_executive_can_read_the_trail(client_for, auditor, hq_executive):
    assert client_for(auditor).get(reverse("audit:log")).status_code == 200
    assert client_for(hq_executive).get(reverse("audit:logins")).status_code == 200


def test_scripted_day_leaves_a_complete_attributed_trail(
    client_for, shenzhen_sales_rep, guangdong_sales_manager, auditor, guangzhou_sales_rep
):
    """Create, edit, view, share, revoke: every write and every sensitive read has an entry with its actor."""
    started = timezone.now() - timedelta(seconds=1)
    with set_actor(shenzhen_sales_rep):
        customer = customer_create(
            data=CustomerInput(
                kind=Customer.Kind.COMPANY,
                name="审计测试有限公司",
                contacts=[
                    ContactInput(kind="mobile", value="13800138000", is_primary=True),
                    ContactInput(kind="email", value="audit@example.com"),
                ],
            ),
            created_by=shenzhen_sales_rep,
        )
        customer_update(
            customer=customer,
            expected_version=customer.version,
            updated_by=shenzhen_sales_rep,
            name="审计测试股份有限公司",
        )
    rep_client = client_for(shenzhen_sales_rep)
    assert rep_client.get(reverse("customers:detail", args=[customer.pk])).status_code == 200
    share = share_grant(
        customer=customer, action=Action.VIEW, user=guangzhou_sales_rep, granted_by=guangdong_sales_manager
    )
    share_revoke(share=share, revoked_by=guangdong_sales_manager)

    customer_ct = ContentType.objects.get_for_model(Customer)
    contact_ct = ContentType.objects.get_for_model(ContactPoint)
    entries = LogEntry.objects.filter(timestamp__gte=started)
    # Database-side truth: every contact point row of the customer has a create entry by the rep.
    for pk in ContactPoint.objects.filter(customer=customer).values_list("pk", flat=True):
        assert entries.filter(
            content_type=contact_ct, object_id=pk, action=LogEntry.Action.CREATE, actor=shenzhen_sales_rep
        ).exists()
    assert entries.filter(
        content_type=customer_ct, object_id=customer.pk, action=LogEntry.Action.CREATE, actor=shenzhen_sales_rep
    ).exists()
    update = entries.get(
        content_type=customer_ct,
        object_id=customer.pk,
        action=LogEntry.Action.UPDATE,
        actor=shenzhen_sales_rep,
        additional_data__isnull=True,
    )
    assert update.changes_dict["name"] == ["审计测试有限公司", "审计测试股份有限公司"]
    assert (
        entries.filter(
            object_id=customer.pk,
            action=LogEntry.Action.ACCESS,
            additional_data__what="view_360",
            actor=shenzhen_sales_rep,
        ).count()
        == 1
    )
    for what in ("share_granted", "share_revoked"):
        assert (
            entries.filter(object_id=customer.pk, additional_data__what=what, actor=guangdong_sales_manager).count()
            == 1
        )
    unattributed = entries.filter(actor__isnull=True, content_type__in=[customer_ct, contact_ct])
    assert not unattributed.exists(), list(unattributed.values_list("object_repr", "action"))

    # The viewer shows the same trail when filtered by the customer's number, newest first.
    body = client_for(auditor).get(reverse("audit:log"), {"customer": customer.number}).content.decode()
    assert "view_360" in body and "share_granted" in body and "share_revoked" in body
    assert "审计测试股份有限公司" in body
    # Sensitive contact values are masked in the log itself.
    assert "13800138000" not in body


def test_filters_by_person_action_and_event(client_for, auditor, shenzhen_sales_rep, guangzhou_sales_rep):
    mine = CustomerFactory(owner=shenzhen_sales_rep, name="甲公司")
    other = CustomerFactory(owner=guangzhou_sales_rep, name="乙公司")
    client_for(shenzhen_sales_rep).get(reverse("customers:detail", args=[mine.pk]))
    client_for(guangzhou_sales_rep).get(reverse("customers:detail", args=[other.pk]))
    client = client_for(auditor)
    body = client.get(reverse("audit:log"), {"actor": "sz_rep", "what": "view_360"}).content.decode()
    assert "甲公司" in body and "乙公司" not in body
    body = client.get(reverse("audit:log"), {"action": "access", "customer": other.number}).content.decode()
    assert "乙公司" in body and "甲公司" not in body
    assert "甲公司" not in client.get(reverse("audit:log"), {"customer": "C99999999"}).content.decode()


def test_audit_csv_export_is_itself_logged(client_for, auditor, shenzhen_sales_rep):
    CustomerFactory(owner=shenzhen_sales_rep)
    response = client_for(auditor).get(reverse("audit:log"), {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert LogEntry.objects.filter(additional_data__what="export_audit", actor=auditor).exists()


def test_audit_list_query_count_is_constant(client_for, auditor, shenzhen_sales_rep, django_assert_max_num_queries):
    client = client_for(auditor)
    for _ in range(3):
        CustomerFactory(owner=shenzhen_sales_rep)
    with django_assert_max_num_queries(15) as few:
        client.get(reverse("audit:log"))
    for _ in range(30):
        CustomerFactory(owner=shenzhen_sales_rep)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("audit:log"))


def test_failed_logins_and_unlock(client, client_for, administrator, settings):
    from axes.models import AccessAttempt

    for _ in range(2):
        client.post(reverse("login"), {"username": "nobody", "password": "wrong"})
    admin_client = client_for(administrator)
    body = admin_client.get(reverse("audit:logins")).content.decode()
    assert "nobody" in body
    response = admin_client.post(reverse("audit:unlock"), {"username": "nobody"})
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="nobody").exists()


def test_unlock_is_only_for_administrators(client_for, auditor):
    assert client_for(auditor).post(reverse("audit:unlock"), {"username": "x"}).status_code == 404
