"""The customer list's owner, unit, role and tag filters: option markup cached per view scope.

crm/test_settings.py turns the shared cache on (CRM_PRINCIPAL_CACHE_SECONDS), so these tests run
the cached path; each asserts what a fresh build would show, so a stale or borrowed entry fails.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.widgets import FastSelect, PrerenderedSelect, options_markup
from customers.models import CustomerRole, Tag
from customers.selectors import customer_filter_choices, filter_options_markup
from sharing.models import Membership

pytestmark = pytest.mark.django_db


def options(response, name: str) -> dict[str, str]:
    """{value: label} of the <select name=...> in the page."""
    select = re.search(rf'<select[^>]* name="{name}"[^>]*>(.*?)</select>', response.content.decode(), re.S)
    assert select, name
    return dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1)))


def selected(response, name: str) -> list[str]:
    select = re.search(rf'<select[^>]* name="{name}"[^>]*>(.*?)</select>', response.content.decode(), re.S)
    return re.findall(r'<option value="([^"]*)" selected>', select.group(1))


@pytest.mark.parametrize("value", [None, "", "2", "x&y", "<b>", "99"])
def test_prerendered_select_writes_what_fast_select_writes(value):
    choices = [(1, "张三"), (2, 'Ada "The" <Countess>'), ("x&y", "a & b"), ("<b>", "tag")]
    attrs = {"id": "id_owner", "data-autosubmit": ""}
    fast = FastSelect(attrs=attrs, choices=[("", "Anyone"), *choices]).render("owner", value)
    prerendered = PrerenderedSelect(attrs=attrs, markup=options_markup(choices), empty_label="Anyone")
    assert prerendered.render("owner", value) == fast
    lazy = PrerenderedSelect(attrs=attrs, markup=lambda: options_markup(choices), empty_label="Anyone")
    assert lazy.render("owner", value) == fast


def test_each_scope_gets_its_own_options_never_a_cached_broader_list(
    client_for, hq_executive, guangdong_sales_manager, beijing_sales_rep, shenzhen_sales_rep, org
):
    # The executive's entry (every owner and unit) is made first; narrower scopes must not get it.
    everyone = options(client_for(hq_executive).get("/customers/"), "owner")
    assert str(beijing_sales_rep.pk) in everyone and str(shenzhen_sales_rep.pk) in everyone

    for user in (guangdong_sales_manager, beijing_sales_rep, shenzhen_sales_rep):
        response = client_for(user).get("/customers/")
        owners, units = customer_filter_choices(user)
        fresh = filter_options_markup(owners, units)
        for name in ("owner", "org_unit", "role", "tag"):
            shown = options(response, name)
            shown.pop("")
            assert shown == dict(re.findall(r'<option value="([^"]*)">([^<]*)</option>', fresh[name])), (user, name)

    manager_owners = options(client_for(guangdong_sales_manager).get("/customers/"), "owner")
    assert str(beijing_sales_rep.pk) not in manager_owners and str(shenzhen_sales_rep.pk) in manager_owners
    manager_units = options(client_for(guangdong_sales_manager).get("/customers/"), "org_unit")
    assert str(org["BJ"].pk) not in manager_units and str(org["GD-SZ"].pk) in manager_units
    rep_owners = options(client_for(beijing_sales_rep).get("/customers/"), "owner")
    assert str(shenzhen_sales_rep.pk) not in rep_owners and str(beijing_sales_rep.pk) in rep_owners


def test_the_second_list_request_reads_the_options_from_the_cache(client_for, hq_executive):
    client = client_for(hq_executive)
    client.get("/customers/")
    Tag.objects.create(name="void the entry")
    with CaptureQueriesContext(connection) as cold:
        client.get("/customers/", {"owner": hq_executive.pk})
    with CaptureQueriesContext(connection) as warm:
        response = client.get("/customers/", {"owner": hq_executive.pk})
    assert len(warm) == len(cold) - 4  # owners, units, roles, tags
    assert selected(response, "owner") == [str(hq_executive.pk)]


def test_the_options_are_cached_after_redis_lost_its_versions(client_for, hq_executive):
    # A new or flushed Redis has no version keys yet; the first request creates them instead of
    # leaving the cache off until someone edits a user, tag or role.
    from django.core.cache import cache

    from customers.selectors import FILTER_OPTIONS_VERSION
    from sharing.principal import shared_cache_key

    client = client_for(hq_executive)  # logging in saves the user, which sets the version
    # What a flush leaves: no versions. Only this database's keys (another xdist worker shares Redis).
    cache.delete_many([shared_cache_key("sharing-generation"), shared_cache_key(FILTER_OPTIONS_VERSION)])
    with CaptureQueriesContext(connection) as cold:
        client.get("/customers/")
    with CaptureQueriesContext(connection) as warm:
        client.get("/customers/")

    def option_queries(ctx):
        return [q["sql"] for q in ctx.captured_queries if 'FROM "customers_tag"' in q["sql"]]

    assert option_queries(cold)
    assert not option_queries(warm)


def test_new_and_renamed_users_tags_and_units_show_on_the_next_request(
    client_for, hq_executive, shenzhen_sales_rep, org
):
    client = client_for(hq_executive)
    client.get("/customers/")  # the entry exists now

    newcomer = get_user_model().objects.create_user("newcomer", first_name="新", last_name="人")
    Membership.objects.create(user=newcomer, unit=org["GD-SZ"])
    assert str(newcomer.pk) in options(client.get("/customers/"), "owner")

    shenzhen_sales_rep.first_name, shenzhen_sales_rep.last_name = "Renamed", "Rep"
    shenzhen_sales_rep.save()
    assert options(client.get("/customers/"), "owner")[str(shenzhen_sales_rep.pk)] == "Renamed Rep"

    tag = Tag.objects.create(name="新标签")
    assert options(client.get("/customers/"), "tag")[str(tag.pk)] == "新标签"
    tag.delete()
    assert str(tag.pk) not in options(client.get("/customers/"), "tag")

    role = CustomerRole.objects.create(code="reseller", name="Reseller")
    assert str(role.pk) in options(client.get("/customers/"), "role")

    org["GD-SZ"].name = "深圳办事处(新)"
    org["GD-SZ"].save()
    assert options(client.get("/customers/"), "org_unit")[str(org["GD-SZ"].pk)] == "深圳办事处(新)"


def test_a_user_who_leaves_the_unit_leaves_the_managers_owner_filter(
    client_for, guangdong_sales_manager, shenzhen_sales_rep
):
    client = client_for(guangdong_sales_manager)
    assert str(shenzhen_sales_rep.pk) in options(client.get("/customers/"), "owner")
    Membership.objects.filter(user=shenzhen_sales_rep).delete()
    assert str(shenzhen_sales_rep.pk) not in options(client.get("/customers/"), "owner")


def test_the_options_follow_the_language(client_for, hq_executive):
    client = client_for(hq_executive)
    chinese = options(client.get("/customers/", HTTP_ACCEPT_LANGUAGE="zh-hans"), "role")
    english = options(client.get("/customers/", HTTP_ACCEPT_LANGUAGE="en"), "role")
    assert chinese.keys() == english.keys()
    assert chinese != english


def _squeeze(html: str) -> str:
    """Markup without the whitespace between tags (the only thing the Python rendering changes)."""
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", str(html))).strip()


def _included(form, skip=("q",)) -> str:
    from django.template import engines

    template = engines["django"].from_string(
        '{% for field in form %}{% if field.name not in skip %}{% include "includes/form_field.html" with field=field %}'
        "{% endif %}{% endfor %}"
    )
    return template.render({"form": form, "skip": skip})


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"kind": "company", "status": "all", "sort": "name"},
        {"owner": "not-a-number", "org_unit": "999999", "kind": "<b>", "province": '广东 "&" <省>'},
        {"q": "x" * 200, "tag": "1", "role": "2"},
    ],
)
def test_filter_fields_tag_writes_what_the_field_template_writes(data, hq_executive):
    """The list's filter fields come from a Python tag: same elements, classes, ids, selections,
    errors and escaping as includes/form_field.html, for valid, invalid and hostile values."""
    from customers.forms import CustomerFilterForm
    from customers.templatetags.customer_list import filter_fields

    owners, units = customer_filter_choices(hq_executive)
    form = CustomerFilterForm(data, owners=owners, units=units)
    form.filters()
    fast = filter_fields(form, "q")
    assert _squeeze(fast) == _squeeze(_included(form))
    if "owner" in data:
        assert 'class="field field--error"' in fast and 'aria-invalid="true"' in fast


def test_filter_fields_tag_covers_checkbox_help_text_fieldset_and_hidden_fields():
    """The other shapes form_field.html knows, so the tag stays right if the filter form grows."""
    from django import forms

    from customers.templatetags.customer_list import filter_fields

    class Sample(forms.Form):
        name = forms.CharField(help_text="Your <em>full</em> name", max_length=5)
        agree = forms.BooleanField()
        colours = forms.MultipleChoiceField(choices=[("r", "Red"), ("g", "Green")], widget=forms.RadioSelect)
        token = forms.CharField(widget=forms.HiddenInput, required=False)

    for form in (Sample(), Sample({"name": "toolong<>", "colours": ["x"], "token": "t&"})):
        form.is_valid() if form.is_bound else None
        assert _squeeze(filter_fields(form)) == _squeeze(_included(form, skip=()))
