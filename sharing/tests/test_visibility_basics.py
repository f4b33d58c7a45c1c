"""visible_to: the scopes of the default roles on the demo org."""

from datetime import timedelta

from django.utils import timezone

from customers.models import Customer
from customers.tests.factories import CustomerFactory
from sharing.models import Action
from sharing.services import share_grant


def test_rep_sees_own_customers_only(shenzhen_sales_rep, guangzhou_sales_rep):
    mine = CustomerFactory(owner=shenzhen_sales_rep)
    theirs = CustomerFactory(owner=guangzhou_sales_rep)
    visible = set(Customer.objects.visible_to(shenzhen_sales_rep))
    assert mine in visible
    assert theirs not in visible


def test_province_manager_sees_subtree_but_not_sibling_province(
    guangdong_sales_manager, shenzhen_sales_rep, beijing_sales_rep, beijing_sales_manager
):
    shenzhen = CustomerFactory(owner=shenzhen_sales_rep)
    beijing = CustomerFactory(owner=beijing_sales_rep)
    assert set(Customer.objects.visible_to(guangdong_sales_manager)) == {shenzhen}
    assert set(Customer.objects.visible_to(beijing_sales_manager)) == {beijing}


def test_executive_sees_all_but_changes_only_own(hq_executive, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    assert customer in Customer.objects.visible_to(hq_executive)
    assert customer not in Customer.objects.visible_to(hq_executive, action="change")


def test_expired_share_gives_no_access(shenzhen_sales_rep, guangzhou_sales_rep):
    customer = CustomerFactory(owner=guangzhou_sales_rep)
    share = share_grant(
        customer=customer,
        action=Action.VIEW,
        user=shenzhen_sales_rep,
        granted_by=guangzhou_sales_rep,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    assert customer in Customer.objects.visible_to(shenzhen_sales_rep)
    share.expires_at = timezone.now() - timedelta(seconds=1)
    share.save()
    shenzhen_sales_rep._crm_principal = None
    assert customer not in Customer.objects.visible_to(shenzhen_sales_rep)
    assert customer not in Customer.objects.visible_to(shenzhen_sales_rep, action="change")


def test_view_share_does_not_grant_change(shenzhen_sales_rep, guangzhou_sales_rep):
    customer = CustomerFactory(owner=guangzhou_sales_rep)
    share_grant(customer=customer, action=Action.VIEW, user=shenzhen_sales_rep, granted_by=guangzhou_sales_rep)
    assert customer in Customer.objects.visible_to(shenzhen_sales_rep)
    assert customer not in Customer.objects.visible_to(shenzhen_sales_rep, action="change")


def test_anonymous_and_outsider_see_nothing(outsider, shenzhen_sales_rep):
    from django.contrib.auth.models import AnonymousUser

    CustomerFactory(owner=shenzhen_sales_rep)
    assert not Customer.objects.visible_to(AnonymousUser()).exists()
    assert not Customer.objects.visible_to(outsider).exists()
