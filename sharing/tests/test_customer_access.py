"""The "who can see this customer and why" page, adding shares and revoking them."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from customers.tests.factories import ContactPointFactory, CustomerFactory
from sharing.models import Action, CustomerGroupShare, CustomerUserShare
from sharing.principal import forget_principal
from sharing.services import share_grant

CANARY_PHONE = "13911112222"


@pytest.fixture
def shenzhen_customer(shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep, name="深圳测试客户")
    ContactPointFactory(customer=customer, value=CANARY_PHONE)
    return customer


def access_url(customer):
    return reverse("sharing:customer_access", args=[customer.pk])


def share_url(customer):
    return reverse("sharing:share_create", args=[customer.pk])


def test_anonymous_visitors_are_sent_to_the_login_page(client, shenzhen_customer):
    response = client.get(access_url(shenzhen_customer))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_outsider_gets_the_same_404_as_for_a_missing_customer(client_for, outsider, shenzhen_customer):
    client = client_for(outsider)
    assert client.get(access_url(shenzhen_customer)).status_code == 404
    assert client.get(reverse("sharing:customer_access", args=[999_999])).status_code == 404


def test_the_owner_sees_who_else_can_see_the_customer_and_why(
    client_for, shenzhen_sales_rep, guangdong_sales_manager, hq_executive, shenzhen_customer
):
    response = client_for(shenzhen_sales_rep).get(access_url(shenzhen_customer))
    assert response.status_code == 200
    html = response.content.decode()
    assert shenzhen_sales_rep.get_full_name() in html  # the owner
    assert guangdong_sales_manager.get_full_name() in html  # Guangdong's sales manager, through the subtree scope
    assert "Sales manager" in html
    assert "Executive" in html  # "all customers" role
    assert CANARY_PHONE not in html  # the page shows no personal data
    assert 'data-testid="share-form"' not in html  # a rep does not manage access


def test_the_subtree_manager_sees_the_page_with_the_share_form(client_for, guangdong_sales_manager, shenzhen_customer):
    response = client_for(guangdong_sales_manager).get(access_url(shenzhen_customer))
    assert response.status_code == 200
    assert 'data-testid="share-form"' in response.content.decode()


def test_a_sibling_province_manager_gets_404(client_for, beijing_sales_manager, shenzhen_customer):
    assert client_for(beijing_sales_manager).get(access_url(shenzhen_customer)).status_code == 404


def test_an_expired_share_gives_404(client_for, guangzhou_sales_rep, guangdong_sales_manager, shenzhen_customer):
    share = share_grant(
        customer=shenzhen_customer,
        action=Action.VIEW,
        user=guangzhou_sales_rep,
        granted_by=guangdong_sales_manager,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    client = client_for(guangzhou_sales_rep)
    assert client.get(access_url(shenzhen_customer)).status_code == 200
    CustomerUserShare.objects.filter(pk=share.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(access_url(shenzhen_customer)).status_code == 404


def test_a_manager_shares_a_customer_with_a_colleague_until_a_day(
    client_for, guangdong_sales_manager, guangzhou_sales_rep, shenzhen_customer
):
    assert not Customer.objects.visible_to(guangzhou_sales_rep).filter(pk=shenzhen_customer.pk).exists()
    day = timezone.localdate() + timedelta(days=10)
    response = client_for(guangdong_sales_manager).post(
        share_url(shenzhen_customer),
        {
            "target_type": "user",
            "username": "gz_rep",
            "action": "view",
            "expires_on": day.isoformat(),
            "reason": "联合拜访",
            "owner": guangzhou_sales_rep.pk,  # forged: ignored
        },
    )
    assert response.status_code == 302
    share = CustomerUserShare.objects.get(content_object=shenzhen_customer, user=guangzhou_sales_rep)
    assert share.granted_by == guangdong_sales_manager
    assert share.reason == "联合拜访"
    assert timezone.localtime(share.expires_at).date() == day
    assert Customer.objects.visible_to(guangzhou_sales_rep).filter(pk=shenzhen_customer.pk).exists()
    shenzhen_customer.refresh_from_db()
    assert shenzhen_customer.owner.username == "sz_rep"
    assert LogEntry.objects.filter(additional_data__what="share_granted", object_pk=str(shenzhen_customer.pk)).exists()


def test_a_manager_shares_with_a_group(client_for, guangdong_sales_manager, shenzhen_customer):
    from crm.demo import role_group

    group = role_group("finance_clerk")
    response = client_for(guangdong_sales_manager).post(
        share_url(shenzhen_customer),
        {
            "target_type": "group",
            "group": group.pk,
            "action": "change",
            "expires_on": (timezone.localdate() + timedelta(days=3)).isoformat(),
            "reason": "对账",
        },
    )
    assert response.status_code == 302
    share = CustomerGroupShare.objects.get(content_object=shenzhen_customer, group=group)
    assert share.permission.codename == "change_customer"


def test_a_rejected_share_form_keeps_what_the_manager_typed(client_for, guangdong_sales_manager, shenzhen_customer):
    response = client_for(guangdong_sales_manager).post(
        share_url(shenzhen_customer),
        {
            "target_type": "user",
            "username": "nobody-like-this",
            "action": "view",
            "expires_on": (timezone.localdate() + timedelta(days=3)).isoformat(),
            "reason": "我写的理由",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="nobody-like-this"' in html
    assert "我写的理由" in html
    assert not CustomerUserShare.objects.exists()


@pytest.mark.parametrize(
    ("days", "message"),
    [(-1, "Choose today or a later day"), (400, "at most one year")],
)
def test_the_expiry_must_be_within_a_year(
    client_for, guangdong_sales_manager, shenzhen_customer, days, message, settings
):
    settings.LANGUAGE_CODE = "en"
    response = client_for(guangdong_sales_manager).post(
        share_url(shenzhen_customer),
        {
            "target_type": "user",
            "username": "gz_rep",
            "action": "view",
            "expires_on": (timezone.localdate() + timedelta(days=days)).isoformat(),
            "reason": "x",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert message in response.content.decode()


def test_nobody_shares_a_customer_with_themselves(client_for, guangdong_sales_manager, shenzhen_customer):
    response = client_for(guangdong_sales_manager).post(
        share_url(shenzhen_customer),
        {
            "target_type": "user",
            "username": "gd_manager",
            "action": "change",
            "expires_on": (timezone.localdate() + timedelta(days=3)).isoformat(),
            "reason": "x",
        },
    )
    assert response.status_code == 400
    assert not CustomerUserShare.objects.exists()


def test_an_owner_without_the_manage_access_flag_cannot_share(
    client_for, shenzhen_sales_rep, guangzhou_sales_rep, shenzhen_customer
):
    response = client_for(shenzhen_sales_rep).post(
        share_url(shenzhen_customer),
        {
            "target_type": "user",
            "username": "gz_rep",
            "action": "view",
            "expires_on": (timezone.localdate() + timedelta(days=3)).isoformat(),
            "reason": "x",
        },
    )
    assert response.status_code == 404
    assert not CustomerUserShare.objects.exists()


def test_an_executive_who_sees_but_cannot_change_cannot_share(client_for, hq_executive, shenzhen_customer):
    response = client_for(hq_executive).post(
        share_url(shenzhen_customer),
        {
            "target_type": "user",
            "username": "gz_rep",
            "action": "view",
            "expires_on": (timezone.localdate() + timedelta(days=3)).isoformat(),
            "reason": "x",
        },
    )
    assert response.status_code == 404
    assert not CustomerUserShare.objects.exists()


def test_revocation_takes_effect_on_the_next_request(
    client_for, client, django_user_model, guangdong_sales_manager, guangzhou_sales_rep, shenzhen_customer
):
    share = share_grant(
        customer=shenzhen_customer, action=Action.VIEW, user=guangzhou_sales_rep, granted_by=guangdong_sales_manager
    )
    from django.test import Client

    holder = Client()
    holder.force_login(guangzhou_sales_rep)
    assert holder.get(access_url(shenzhen_customer)).status_code == 200

    manager = client_for(guangdong_sales_manager)
    response = manager.post(reverse("sharing:share_revoke", args=["user", share.pk]), {"reason": "项目结束"})
    assert response.status_code == 302
    assert response["Location"] == access_url(shenzhen_customer)
    assert not CustomerUserShare.objects.filter(pk=share.pk).exists()
    assert holder.get(access_url(shenzhen_customer)).status_code == 404
    entry = LogEntry.objects.get(additional_data__what="share_revoked")
    assert entry.actor == guangdong_sales_manager
    assert entry.additional_data["reason"] == "项目结束"


@pytest.mark.parametrize("persona", ["shenzhen_sales_rep", "beijing_sales_manager", "hq_executive", "outsider"])
def test_only_managers_with_change_access_can_revoke(
    request, client_for, guangdong_sales_manager, guangzhou_sales_rep, shenzhen_customer, persona
):
    share = share_grant(
        customer=shenzhen_customer, action=Action.VIEW, user=guangzhou_sales_rep, granted_by=guangdong_sales_manager
    )
    client = client_for(request.getfixturevalue(persona))
    assert client.post(reverse("sharing:share_revoke", args=["user", share.pk])).status_code == 404
    assert CustomerUserShare.objects.filter(pk=share.pk).exists()


def test_revoking_an_unknown_kind_is_404(client_for, guangdong_sales_manager):
    assert client_for(guangdong_sales_manager).post("/sharing/grants/bogus/1/revoke/").status_code == 404


def test_revoke_redirects_only_to_local_pages(
    client_for, guangdong_sales_manager, guangzhou_sales_rep, shenzhen_customer
):
    share = share_grant(
        customer=shenzhen_customer, action=Action.VIEW, user=guangzhou_sales_rep, granted_by=guangdong_sales_manager
    )
    response = client_for(guangdong_sales_manager).post(
        reverse("sharing:share_revoke", args=["user", share.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == access_url(shenzhen_customer)


def test_the_page_lists_shares_unit_grants_and_unmask_grants(
    client_for, guangdong_sales_manager, guangzhou_sales_rep, shenzhen_customer, org
):
    from crm.demo import role_group
    from sharing.services import unit_grant_create, unmask_grant_create

    share_grant(
        customer=shenzhen_customer,
        action=Action.VIEW,
        user=guangzhou_sales_rep,
        granted_by=guangdong_sales_manager,
        reason="共享原因甲",
    )
    unit_grant_create(
        group=role_group("auditor"), unit=org["GD"], granted_by=guangdong_sales_manager, reason="审计原因乙"
    )
    unmask_grant_create(
        user=guangzhou_sales_rep,
        customer=shenzhen_customer,
        field_group="contact",
        granted_by=guangdong_sales_manager,
        expires_at=timezone.now() + timedelta(days=1),
        reason="解密原因丙",
    )
    html = client_for(guangdong_sales_manager).get(access_url(shenzhen_customer)).content.decode()
    for text in ("共享原因甲", "审计原因乙", "解密原因丙", guangzhou_sales_rep.get_full_name()):
        assert text in html


def test_the_page_needs_a_constant_number_of_queries(
    client_for, guangdong_sales_manager, shenzhen_customer, django_assert_max_num_queries, django_user_model
):
    client = client_for(guangdong_sales_manager)
    client.get(access_url(shenzhen_customer))
    for i in range(15):
        user = django_user_model.objects.create_user(f"extra{i}")
        share_grant(customer=shenzhen_customer, action=Action.VIEW, user=user, granted_by=guangdong_sales_manager)
    forget_principal(guangdong_sales_manager)
    with django_assert_max_num_queries(25):
        response = client.get(access_url(shenzhen_customer))
    assert response.status_code == 200
