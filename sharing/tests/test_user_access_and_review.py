"""A user's access page and the permission review (expiring soon, unused for 90 days)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.demo import role_group
from customers.tests.factories import CustomerFactory
from sharing.models import Action, CustomerUserShare, UnitGrant
from sharing.services import share_grant, unit_grant_create, unmask_grant_create


def user_url(user):
    return reverse("sharing:user_access", args=[user.pk])


@pytest.fixture
def shared_to_guangzhou(shenzhen_sales_rep, guangzhou_sales_rep, guangdong_sales_manager):
    customer = CustomerFactory(owner=shenzhen_sales_rep, name="共享给广州的客户")
    share = share_grant(
        customer=customer,
        action=Action.VIEW,
        user=guangzhou_sales_rep,
        granted_by=guangdong_sales_manager,
        expires_at=timezone.now() + timedelta(days=5),
        reason="联合跟进",
    )
    return customer, share


def test_a_user_sees_their_own_access(client_for, guangzhou_sales_rep, shared_to_guangzhou):
    customer, _share = shared_to_guangzhou
    response = client_for(guangzhou_sales_rep).get(user_url(guangzhou_sales_rep))
    assert response.status_code == 200
    html = response.content.decode()
    assert "广州办事处" in html
    assert "Sales rep" in html
    assert customer.number in html
    assert customer.name in html  # visible to the viewer through the share
    assert "联合跟进" in html
    assert 'data-testid="revoke-user-' not in html  # a rep revokes nothing


def test_the_unit_manager_sees_the_access_of_their_people_and_can_revoke(
    client_for, guangdong_sales_manager, guangzhou_sales_rep, shared_to_guangzhou
):
    _customer, share = shared_to_guangzhou
    html = client_for(guangdong_sales_manager).get(user_url(guangzhou_sales_rep)).content.decode()
    assert f'data-testid="revoke-user-{share.pk}"' in html


def test_customers_the_viewer_cannot_see_appear_by_number_only(
    client_for, hq_executive, guangzhou_sales_rep, guangdong_sales_manager, org
):
    # The Guangzhou rep holds a share of a Beijing customer, which their Guangdong manager cannot see.
    customer = CustomerFactory(owner=None, org_unit=org["BJ-CY"], name="北京机密客户")
    share_grant(customer=customer, action=Action.VIEW, user=guangzhou_sales_rep, granted_by=hq_executive)
    html = client_for(guangdong_sales_manager).get(user_url(guangzhou_sales_rep)).content.decode()
    assert customer.number in html
    assert "北京机密客户" not in html
    # The executive sees every customer, so the name shows for them.
    assert "北京机密客户" in client_for(hq_executive).get(user_url(guangzhou_sales_rep)).content.decode()


@pytest.mark.parametrize("persona", ["shenzhen_sales_rep", "beijing_sales_manager", "outsider", "dealer_user"])
def test_other_people_get_404_on_someone_elses_access_page(request, client_for, guangzhou_sales_rep, persona):
    client = client_for(request.getfixturevalue(persona))
    assert client.get(user_url(guangzhou_sales_rep)).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, guangzhou_sales_rep):
    response = client.get(user_url(guangzhou_sales_rep))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


# --- review


def review_url(**params):
    from urllib.parse import urlencode

    return reverse("sharing:review") + ("?" + urlencode(params) if params else "")


def test_the_review_lists_shares_expiring_within_14_days(client_for, guangdong_sales_manager, shared_to_guangzhou):
    customer, share = shared_to_guangzhou
    html = client_for(guangdong_sales_manager).get(review_url()).content.decode()
    assert customer.number in html
    assert f'data-testid="revoke-user-{share.pk}"' in html


def test_the_review_lists_shares_unused_for_90_days_and_not_recently_used_ones(
    client_for, guangdong_sales_manager, guangzhou_sales_rep, shenzhen_sales_rep
):
    old = CustomerFactory(owner=shenzhen_sales_rep, name="久未使用")
    fresh = CustomerFactory(owner=shenzhen_sales_rep, name="最近使用")
    long_ago = timezone.now() - timedelta(days=120)
    for customer, last_used in ((old, long_ago), (fresh, timezone.now() - timedelta(days=3))):
        share = share_grant(
            customer=customer, action=Action.VIEW, user=guangzhou_sales_rep, granted_by=guangdong_sales_manager
        )
        CustomerUserShare.objects.filter(pk=share.pk).update(created_at=long_ago, last_used_at=last_used)
    html = client_for(guangdong_sales_manager).get(review_url(reason="unused")).content.decode()
    assert old.number in html
    assert fresh.number not in html


def test_the_review_filters_by_user_or_customer_number(
    client_for, guangdong_sales_manager, shared_to_guangzhou, shenzhen_sales_rep, channel_manager
):
    customer, _ = shared_to_guangzhou
    other = CustomerFactory(owner=shenzhen_sales_rep)
    share_grant(
        customer=other,
        action=Action.VIEW,
        user=channel_manager,
        granted_by=guangdong_sales_manager,
        expires_at=timezone.now() + timedelta(days=2),
    )
    client = client_for(guangdong_sales_manager)
    html = client.get(review_url(kind="user", q="gz_rep")).content.decode()
    assert customer.number in html and other.number not in html
    html = client.get(review_url(kind="user", q=other.number)).content.decode()
    assert other.number in html and customer.number not in html


def test_the_review_shows_only_what_the_reviewer_may_change(client_for, beijing_sales_manager, shared_to_guangzhou):
    customer, _ = shared_to_guangzhou
    html = client_for(beijing_sales_manager).get(review_url()).content.decode()
    assert customer.number not in html


def test_the_review_lists_unit_and_unmask_grants(client_for, administrator, guangdong_sales_manager, org):
    grant = unit_grant_create(
        group=role_group("auditor"),
        unit=org["GD"],
        granted_by=administrator,
        expires_at=timezone.now() + timedelta(days=3),
        reason="年度审计",
    )
    customer = CustomerFactory(owner=None, org_unit=org["GD-SZ"])
    unmask = unmask_grant_create(
        user=guangdong_sales_manager,
        customer=customer,
        field_group="identity",
        granted_by=administrator,
        expires_at=timezone.now() + timedelta(days=2),
    )
    client = client_for(administrator)
    html = client.get(review_url(kind="unit")).content.decode()
    assert "年度审计" in html and f'data-testid="revoke-unit-{grant.pk}"' in html
    html = client.get(review_url(kind="unmask")).content.decode()
    assert f'data-testid="revoke-unmask-{unmask.pk}"' in html
    response = client.post(reverse("sharing:share_revoke", args=["unit", grant.pk]), {"next": review_url(kind="unit")})
    assert response.status_code == 302
    assert not UnitGrant.objects.filter(pk=grant.pk).exists()


@pytest.mark.parametrize("persona", ["shenzhen_sales_rep", "finance_clerk", "outsider", "service_agent"])
def test_people_without_the_manage_access_flag_get_404_on_the_review(request, client_for, persona):
    assert client_for(request.getfixturevalue(persona)).get(review_url()).status_code == 404


def test_the_review_page_needs_a_constant_number_of_queries(
    client_for, guangdong_sales_manager, shenzhen_sales_rep, django_user_model, django_assert_max_num_queries
):
    for i in range(20):
        user = django_user_model.objects.create_user(f"reviewed{i}")
        share_grant(
            customer=CustomerFactory(owner=shenzhen_sales_rep),
            action=Action.VIEW,
            user=user,
            granted_by=guangdong_sales_manager,
            expires_at=timezone.now() + timedelta(days=1),
        )
    client = client_for(guangdong_sales_manager)
    with django_assert_max_num_queries(20):
        response = client.get(review_url())
    assert response.status_code == 200
    assert response.content.decode().count('data-testid="revoke-user-') == 20
