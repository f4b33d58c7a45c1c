"""The relationship autocomplete answers with customers the user can see, and nothing else."""

import pytest

from customers.models import Customer
from customers.tests.factories import ContactPointFactory, CustomerFactory, expire, share_with

pytestmark = pytest.mark.django_db


def suggestions(response):
    return [c.pk for c in response.context["results"]]


def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get("/customers/autocomplete/", {"q": "华"})
    assert response.status_code == 302


def test_suggestions_are_only_customers_the_user_can_see(
    client_for, shenzhen_sales_rep, guangzhou_sales_rep, beijing_sales_manager, outsider
):
    mine = CustomerFactory(owner=shenzhen_sales_rep, name="华南电子有限公司")
    theirs = CustomerFactory(owner=guangzhou_sales_rep, name="华南物流有限公司")
    assert suggestions(client_for(shenzhen_sales_rep).get("/customers/autocomplete/", {"q": "华南"})) == [mine.pk]
    response = client_for(beijing_sales_manager).get("/customers/autocomplete/", {"q": "华南"})
    assert suggestions(response) == []
    assert "华南" not in response.content.decode().replace('"华南"', "")
    assert suggestions(client_for(outsider).get("/customers/autocomplete/", {"q": "华南"})) == []
    share = share_with(theirs, shenzhen_sales_rep)
    assert set(suggestions(client_for(shenzhen_sales_rep).get("/customers/autocomplete/", {"q": "华南"}))) == {
        mine.pk,
        theirs.pk,
    }
    expire(share)
    assert suggestions(client_for(shenzhen_sales_rep).get("/customers/autocomplete/", {"q": "华南"})) == [mine.pk]


def test_suggestions_find_by_phone_exclude_the_edited_customer_and_merged_ones(client_for, shenzhen_sales_rep):
    one = CustomerFactory(owner=shenzhen_sales_rep, name="甲公司")
    two = CustomerFactory(owner=shenzhen_sales_rep, name="甲方公司")
    CustomerFactory(owner=shenzhen_sales_rep, name="甲合并", status=Customer.Status.MERGED)
    ContactPointFactory(customer=two, value="13800138000")
    client = client_for(shenzhen_sales_rep)
    assert suggestions(client.get("/customers/autocomplete/", {"q": "+86 138 0013 8000"})) == [two.pk]
    assert suggestions(client.get("/customers/autocomplete/", {"q": "甲", "exclude": one.pk})) == [two.pk]


def test_the_search_box_of_a_formset_row_is_understood(client_for, shenzhen_sales_rep):
    one = CustomerFactory(owner=shenzhen_sales_rep, name="乙公司")
    response = client_for(shenzhen_sales_rep).get("/customers/autocomplete/", {"relationships-3-other_search": "乙"})
    assert suggestions(response) == [one.pk]
    assert f'data-value="{one.pk}"' in response.content.decode()


def test_an_empty_query_suggests_nothing(client_for, shenzhen_sales_rep):
    CustomerFactory(owner=shenzhen_sales_rep)
    assert suggestions(client_for(shenzhen_sales_rep).get("/customers/autocomplete/", {"q": " "})) == []
