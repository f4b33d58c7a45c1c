"""Capped counts for huge lists and the fast select widget (docs/performance.md findings 1 and 4)."""

import pytest
from django import forms
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.html import parse_html
from django.test.utils import CaptureQueriesContext

from crm import pagination
from crm.pagination import CappedPaginator
from crm.widgets import FastSelect, FastTextInput
from customers.models import Customer
from customers.tests.factories import CustomerFactory


@pytest.mark.django_db
def test_the_count_stops_at_the_cap_and_says_so():
    CustomerFactory.create_batch(7)
    paginator = CappedPaginator(Customer.objects.order_by("pk"), 2, cap=5)
    assert (paginator.count, paginator.capped, paginator.count_label) == (5, True, "5+")
    assert paginator.num_pages == 3
    # The last page ends at the cap: the rows after it are reached by narrowing the filters.
    assert len(paginator.page(3).object_list) == 1
    exact = CappedPaginator(Customer.objects.order_by("pk"), 2, cap=7)
    assert (exact.count, exact.capped, exact.count_label) == (7, False, "7")


@pytest.mark.django_db
def test_the_capped_count_is_one_bounded_query():
    CustomerFactory.create_batch(4)
    paginator = CappedPaginator(Customer.objects.order_by("pk"), 2, cap=3)
    with CaptureQueriesContext(connection) as queries:
        assert paginator.count == 3
    assert len(queries) == 1
    assert "LIMIT 4" in queries[0]["sql"]


def test_lists_work_too():
    paginator = CappedPaginator(list(range(12)), 5, cap=10)
    assert (paginator.count, paginator.capped) == (10, True)


@pytest.mark.django_db
def test_the_list_page_shows_a_capped_count_only_of_what_the_viewer_may_see(
    client_for, shenzhen_sales_rep, guangzhou_sales_rep, hq_executive, monkeypatch
):
    monkeypatch.setattr(pagination, "DEFAULT_CAP", 3)
    CustomerFactory.create_batch(2, owner=shenzhen_sales_rep)
    CustomerFactory.create_batch(4, owner=guangzhou_sales_rep)

    rep_page = client_for(shenzhen_sales_rep).get("/customers/")
    assert rep_page.context["page_obj"].paginator.count_label == "2"
    assert "capped-note" not in rep_page.content.decode()

    executive = client_for(hq_executive).get("/customers/")
    assert executive.context["page_obj"].paginator.count_label == "3+"
    assert len(executive.context["rows"]) == 3
    assert 'data-testid="capped-note"' in executive.content.decode()


@pytest.mark.django_db
def test_fast_select_renders_what_djangos_select_renders(django_user_model):
    django_user_model.objects.create(username="a", first_name='<b>"Tom" & Jerry</b>')
    chosen = django_user_model.objects.create(username="b", first_name="王")
    field = forms.ModelChoiceField(queryset=get_user_model().objects.order_by("pk"), empty_label="Anyone")
    field.label_from_instance = lambda u: u.first_name
    attrs = {"id": "id_owner", "data-autosubmit": ""}
    for value in (None, chosen.pk, str(chosen.pk), "999"):
        fast = FastSelect(choices=field.choices).render("owner", value, attrs)
        django = forms.Select(choices=field.choices).render("owner", value, attrs)
        assert parse_html(fast) == parse_html(django), value
    assert "&lt;b&gt;&quot;Tom&quot; &amp; Jerry&lt;/b&gt;" in fast


@pytest.mark.parametrize("value", [None, "", "华信", "<script>\"x\" & 'y'</script>", 42])
@pytest.mark.parametrize(
    "attrs",
    [
        {"id": "id_q"},
        {"id": "id_province", "list": "provinces", "maxlength": "30", "data-x": True, "hidden": False},
        {"placeholder": '"quoted" <b>'},
    ],
)
def test_fast_text_input_renders_what_djangos_text_input_renders(value, attrs):
    for widget_attrs in ({}, {"autocomplete": "off", "required": True}):
        fast = FastTextInput(attrs=widget_attrs).render("q", value, attrs)
        django = forms.TextInput(attrs=widget_attrs).render("q", value, attrs)
        assert fast == django.strip(), (fast, django)
