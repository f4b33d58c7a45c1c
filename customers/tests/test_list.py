"""The customer list: visibility, default status filter, filters, sorting, masking, constant queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from customers.models import ContactPoint, Customer, CustomerRole, Tag
from customers.tests.factories import ContactPointFactory, CustomerFactory, PersonFactory, expire, share_with

pytestmark = pytest.mark.django_db


def rows(response):
    return [row.pk for row in response.context["rows"]]


def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get("/customers/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_each_persona_lists_exactly_the_customers_visible_to_them(
    client_for,
    shenzhen_sales_rep,
    guangzhou_sales_rep,
    beijing_sales_rep,
    guangdong_sales_manager,
    beijing_sales_manager,
    outsider,
    hq_executive,
):
    shenzhen = CustomerFactory(owner=shenzhen_sales_rep)
    guangzhou = CustomerFactory(owner=guangzhou_sales_rep)
    beijing = CustomerFactory(owner=beijing_sales_rep)
    expected = {
        shenzhen_sales_rep: {shenzhen.pk},
        guangdong_sales_manager: {shenzhen.pk, guangzhou.pk},  # subtree
        beijing_sales_manager: {beijing.pk},  # never the sibling province
        outsider: set(),
        hq_executive: {shenzhen.pk, guangzhou.pk, beijing.pk},
    }
    for user, visible in expected.items():
        response = client_for(user).get("/customers/")
        assert response.status_code == 200
        assert set(rows(response)) == visible, user.username
        # The page count agrees: nothing hidden is counted either.
        assert response.context["page_obj"].paginator.count == len(visible)


def test_a_share_lists_the_customer_until_it_expires(client_for, guangzhou_sales_rep, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    share = share_with(customer, guangzhou_sales_rep)
    client = client_for(guangzhou_sales_rep)
    assert rows(client.get("/customers/")) == [customer.pk]
    expire(share)
    assert rows(client.get("/customers/")) == []


def test_a_rep_sees_the_phone_of_a_shared_customer_masked(client_for, guangzhou_sales_rep, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ContactPointFactory(customer=customer, kind="mobile", value="13812345678")
    share_with(customer, guangzhou_sales_rep)
    body = client_for(guangzhou_sales_rep).get("/customers/").content.decode()
    assert "138****5678" in body
    assert "13812345678" not in body
    owner_body = client_for(shenzhen_sales_rep).get("/customers/").content.decode()
    assert "13812345678" in owner_body


def test_merged_and_erased_customers_are_left_out_unless_the_status_filter_asks(client_for, shenzhen_sales_rep):
    active = CustomerFactory(owner=shenzhen_sales_rep)
    inactive = CustomerFactory(owner=shenzhen_sales_rep, status=Customer.Status.INACTIVE)
    merged = CustomerFactory(owner=shenzhen_sales_rep, status=Customer.Status.MERGED)
    erased = CustomerFactory(owner=shenzhen_sales_rep, status=Customer.Status.ERASED)
    client = client_for(shenzhen_sales_rep)
    assert set(rows(client.get("/customers/"))) == {active.pk, inactive.pk}
    assert rows(client.get("/customers/", {"status": "merged"})) == [merged.pk]
    assert rows(client.get("/customers/", {"status": "erased"})) == [erased.pk]
    assert set(rows(client.get("/customers/", {"status": "all"}))) == {active.pk, inactive.pk, merged.pk, erased.pk}


def test_filters_by_kind_role_tag_owner_unit_and_province(
    client_for, guangdong_sales_manager, shenzhen_sales_rep, guangzhou_sales_rep, org
):
    vip = Tag.objects.create(name="VIP")
    debtor = CustomerRole.objects.get(code="debtor")
    company = CustomerFactory(owner=shenzhen_sales_rep, province="广东省")
    company.tags.add(vip)
    person = PersonFactory(owner=guangzhou_sales_rep, province="广东省")
    person.roles.add(debtor)
    other = CustomerFactory(owner=guangzhou_sales_rep, province="湖南省")
    client = client_for(guangdong_sales_manager)
    assert rows(client.get("/customers/", {"kind": "person"})) == [person.pk]
    assert rows(client.get("/customers/", {"role": debtor.pk})) == [person.pk]
    assert rows(client.get("/customers/", {"tag": vip.pk})) == [company.pk]
    assert rows(client.get("/customers/", {"owner": shenzhen_sales_rep.pk})) == [company.pk]
    assert set(rows(client.get("/customers/", {"org_unit": org["GD-GZ"].pk}))) == {person.pk, other.pk}
    assert len(rows(client.get("/customers/", {"org_unit": org["GD"].pk}))) == 3  # a unit includes its sub-units
    assert set(rows(client.get("/customers/", {"province": "广东"}))) == {company.pk, person.pk}


def test_a_filter_outside_the_viewers_scope_is_ignored_not_an_error(
    client_for, shenzhen_sales_rep, beijing_sales_rep, org
):
    mine = CustomerFactory(owner=shenzhen_sales_rep)
    CustomerFactory(owner=beijing_sales_rep)
    client = client_for(shenzhen_sales_rep)
    response = client.get("/customers/", {"owner": beijing_sales_rep.pk, "org_unit": org["BJ"].pk, "kind": "robot"})
    assert response.status_code == 200
    assert rows(response) == [mine.pk]


def test_sorting_by_name_number_and_recency(client_for, shenzhen_sales_rep):
    b = CustomerFactory(owner=shenzhen_sales_rep, name="Beta")
    a = CustomerFactory(owner=shenzhen_sales_rep, name="alpha")
    c = CustomerFactory(owner=shenzhen_sales_rep, name="Gamma")
    client = client_for(shenzhen_sales_rep)
    assert rows(client.get("/customers/", {"sort": "name"})) == [a.pk, b.pk, c.pk]
    assert rows(client.get("/customers/", {"sort": "number"})) == [b.pk, a.pk, c.pk]
    assert rows(client.get("/customers/")) == [c.pk, a.pk, b.pk]  # recently updated first


def test_the_list_is_paginated(client_for, shenzhen_sales_rep):
    for _ in range(30):
        CustomerFactory(owner=shenzhen_sales_rep)
    client = client_for(shenzhen_sales_rep)
    first, second = client.get("/customers/"), client.get("/customers/", {"page": 2})
    assert len(rows(first)) == 25 and len(rows(second)) == 5
    assert not set(rows(first)) & set(rows(second))
    assert client.get("/customers/", {"page": "999"}).status_code == 200  # last page, not an error


def test_an_htmx_request_gets_only_the_results(client_for, shenzhen_sales_rep):
    CustomerFactory(owner=shenzhen_sales_rep, name="Beta")
    response = client_for(shenzhen_sales_rep).get("/customers/", {"q": "beta"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<html" not in body
    assert 'data-testid="customer-table"' in body


def test_an_empty_result_explains_itself(client_for, shenzhen_sales_rep):
    response = client_for(shenzhen_sales_rep).get("/customers/", {"q": "无此客户"})
    assert b"empty-state" in response.content


def test_the_list_needs_the_same_number_of_queries_for_3_or_30_rows(
    client_for, guangdong_sales_manager, shenzhen_sales_rep, django_assert_max_num_queries
):
    role = CustomerRole.objects.get(code="customer")
    tag = Tag.objects.create(name="重点")

    def add(count):
        for i in range(count):
            customer = CustomerFactory(owner=shenzhen_sales_rep)
            customer.roles.add(role)
            customer.tags.add(tag)
            ContactPointFactory(customer=customer, kind=ContactPoint.Kind.MOBILE, value=f"1390000{i:04d}")

    add(3)
    client = client_for(guangdong_sales_manager)
    client.get("/customers/")  # warm caches
    with CaptureQueriesContext(connection) as few:
        assert len(rows(client.get("/customers/", {"sort": "name"}))) == 3
    add(27)
    with django_assert_max_num_queries(len(few)), CaptureQueriesContext(connection) as many:
        assert len(rows(client.get("/customers/", {"sort": "name"}))) == 25
    assert len(many) == len(few)


def test_a_customer_without_a_phone_shows_a_dash_not_hidden(client_for, shenzhen_sales_rep):
    PersonFactory(owner=shenzhen_sales_rep)
    body = client_for(shenzhen_sales_rep).get("/customers/").content.decode()
    assert "hidden-value" not in body


def test_the_pages_speak_chinese_by_default_and_english_on_request(client_for, shenzhen_sales_rep, settings):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    client = client_for(shenzhen_sales_rep)
    assert "新建企业" in client.get("/customers/").content.decode()
    assert "关系" in client.get(f"/customers/{customer.pk}/").content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "New company" in client.get("/customers/").content.decode()
    assert "Relationships" in client.get(f"/customers/{customer.pk}/").content.decode()
    translation.deactivate()  # do not leak English to the next test in this thread


def test_rows_escape_every_value_and_show_roles_tags_owner_and_place(client_for, shenzhen_sales_rep):
    """The rows are rendered in Python (customers/templatetags/customer_list.py): what a user typed
    must come out escaped, and every cell must show what the template showed."""
    customer = CustomerFactory(
        owner=shenzhen_sales_rep, name='<script>alert("x")</script>公司', province="广东省", city="深圳市"
    )
    customer.roles.add(CustomerRole.objects.get(code="customer"))
    customer.tags.add(Tag.objects.create(name="<b>重点</b>"))
    ContactPointFactory(customer=customer, kind=ContactPoint.Kind.MOBILE, value="13812345678")
    with translation.override("zh-hans"):
        body = client_for(shenzhen_sales_rep).get("/customers/").content.decode()
    assert '<script>alert("x")</script>' not in body and "<b>重点</b>" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;公司" in body
    assert '<span class="badge">&lt;b&gt;重点&lt;/b&gt;</span>' in body
    assert f'<tr data-customer="{customer.pk}">' in body
    assert f'<a href="/customers/{customer.pk}/">' in body
    assert "13812345678" in body
    assert '<div class="muted small">广东省 深圳市</div>' in body
    assert 'class="badge badge--info"' in body


@pytest.mark.parametrize("sort", ["-updated", "name", "number", "-created"])
def test_every_page_shows_the_rows_of_the_plain_sorted_query(client_for, shenzhen_sales_rep, sort):
    # On PostgreSQL the page's ids are chosen first and only those rows are joined and annotated
    # (customers.selectors._page_with_related); ties in the sort key must still fall the same way.
    from django.utils import timezone

    from customers.selectors import customer_list

    for i in range(60):
        CustomerFactory(owner=shenzhen_sales_rep, name=f"客户{i % 7}")
    Customer.objects.filter(pk__in=Customer.objects.order_by("pk").values("pk")[:30]).update(
        updated_at=timezone.now(), created_at=timezone.now()
    )
    client = client_for(shenzhen_sales_rep)
    ordered = list(customer_list(shenzhen_sales_rep, {"sort": sort}).values_list("pk", flat=True))
    for page in (1, 2, 3):
        assert rows(client.get("/customers/", {"sort": sort, "page": page})) == ordered[(page - 1) * 25 : page * 25]
