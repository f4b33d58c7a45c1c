"""Search by number, phone in any format, email and name prefix (Customer.objects.search and the list)."""

import pytest

from customers.models import ContactPoint, Customer
from customers.tests.factories import ContactPointFactory, CustomerFactory, PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def huawei(shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep, name="华为技术有限公司")
    ContactPointFactory(customer=customer, kind=ContactPoint.Kind.MOBILE, value="13800138000")
    ContactPointFactory(customer=customer, kind=ContactPoint.Kind.LANDLINE, value="0755-2878 0808", is_primary=False)
    ContactPointFactory(customer=customer, kind=ContactPoint.Kind.EMAIL, value="Sales@Huawei.example.com")
    return customer


@pytest.fixture
def other(shenzhen_sales_rep):
    customer = PersonFactory(owner=shenzhen_sales_rep, name="李华")
    ContactPointFactory(customer=customer, kind=ContactPoint.Kind.MOBILE, value="13900139000")
    return customer


@pytest.mark.parametrize(
    "text",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86-138-0013-8000",
        "+86 138 0013 8000",
        "0086 13800138000",
        "+8613800138000",
        "１３８００１３８０００",  # full-width digits from a Chinese input method
        "(0755) 2878 0808",
        "075528780808",
        "+86 755 2878 0808",
    ],
)
def test_search_finds_a_customer_by_phone_in_any_format(huawei, other, text):
    assert list(Customer.objects.search(text)) == [huawei]


@pytest.mark.parametrize("text", ["sales@huawei.example.com", "SALES@HUAWEI.EXAMPLE.COM", " Sales@Huawei.example.com "])
def test_search_finds_a_customer_by_email_whatever_the_case(huawei, other, text):
    assert list(Customer.objects.search(text)) == [huawei]


def test_search_finds_a_customer_by_number(huawei, other):
    assert list(Customer.objects.search(huawei.number)) == [huawei]
    assert list(Customer.objects.search(huawei.number.lower())) == [huawei]


def test_search_finds_customers_by_name_prefix_only(huawei, other):
    assert list(Customer.objects.search("华为")) == [huawei]
    assert list(Customer.objects.search("华为技术")) == [huawei]
    assert list(Customer.objects.search("技术")) == []  # not a prefix: no unindexed substring scan


def test_the_list_page_finds_a_customer_by_phone_typed_in_another_format(client_for, shenzhen_sales_rep, huawei, other):
    response = client_for(shenzhen_sales_rep).get("/customers/", {"q": "+86 138-0013-8000"})
    assert [row.pk for row in response.context["rows"]] == [huawei.pk]


def test_search_never_reaches_customers_the_user_cannot_see(client_for, guangzhou_sales_rep, huawei):
    response = client_for(guangzhou_sales_rep).get("/customers/", {"q": "13800138000"})
    assert response.context["rows"] == []
    assert huawei.name not in response.content.decode()
