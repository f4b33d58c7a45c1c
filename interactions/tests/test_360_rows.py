"""The 360 sections' table rows rendered in Python (interactions/templatetags/interactions_360.py).

Each tag replaces a `{% for %}` loop of a section template; it must write exactly what that loop
wrote, for every branch of the loop (overdue, major, closed, paid, won, lost, no owner, no amount)
and with user-typed text escaped. The loops as they were are kept here to compare against.
"""

from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.template import Context, Engine
from django.template.backends.django import get_installed_libraries
from django.utils import timezone, translation

from customers.tests.factories import CustomerFactory
from interactions.selectors import _SECTION_LISTS, _section_lists, customer_timeline
from interactions.tests.factories import (
    ActivityFactory,
    ContractFactory,
    OpportunityFactory,
    OrderFactory,
    PaymentFactory,
    ServiceCaseFactory,
)

OLD_LOOPS = {
    "entry": '{% for entry in timeline.object_list %}\n          <tr data-kind="{{ entry.kind }}">\n            <td class="nowrap muted"><time datetime="{{ entry.date|date:\'c\' }}">{{ entry.date|date:"Y-m-d H:i" }}</time></td>\n            <td class="nowrap">{{ entry.kind_label|capfirst }}{% if entry.subkind %} · {{ entry.subkind }}{% endif %}</td>\n            <td>\n              {% if entry.url %}<a href="{{ entry.url }}">{{ entry.title }}</a>{% else %}<strong>{{ entry.title }}</strong>{% endif %}\n              {% if entry.summary %}<div class="small muted">{{ entry.summary|truncatechars:160 }}</div>{% endif %}\n            </td>\n            <td>{% if entry.status %}<span class="badge">{{ entry.status }}</span>{% endif %}</td>\n            <td class="num nowrap">{% if entry.amount is not None %}{{ entry.amount|floatformat:"2g" }} {{ entry.currency }}{% endif %}</td>\n            <td class="nowrap">{{ entry.actor }}</td>\n          </tr>\n        {% endfor %}',
    "contract": '{% for contract in section.contracts %}\n            <tr>\n              <td class="nowrap"><a href="{{ contract.get_absolute_url }}">{{ contract.number }}</a></td>\n              <td><span class="badge">{{ contract.get_status_display }}</span></td>\n              <td class="num nowrap">{{ contract.amount|floatformat:"2g" }} {{ contract.currency }}</td>\n              <td class="nowrap">{{ contract.start_on|date:"Y-m-d" }} – {{ contract.end_on|date:"Y-m-d" }}</td>\n            </tr>\n          {% endfor %}',
    "order": '{% for order in section.orders %}\n            <tr>\n              <td class="nowrap"><a href="{{ order.get_absolute_url }}">{{ order.number }}</a></td>\n              <td><span class="badge">{{ order.get_status_display }}</span></td>\n              <td class="num nowrap">{{ order.amount|floatformat:"2g" }} {{ order.currency }}</td>\n              <td class="nowrap">{{ order.ordered_on|date:"Y-m-d" }}</td>\n            </tr>\n          {% endfor %}',
    "case": '{% for case in section.cases %}\n            <tr>\n              <td><a href="{{ case.get_absolute_url }}">{{ case.number }}</a> {{ case.subject }}</td>\n              <td class="nowrap">{{ case.get_type_display }}{% if case.severity == \'major\' %} <span class="badge badge--warning">{{ case.get_severity_display }}</span>{% endif %}</td>\n              <td class="nowrap"><span class="badge{% if case.status == \'closed\' %} badge--success{% endif %}">{{ case.get_status_display }}</span></td>\n              <td class="nowrap">{% if case.status != \'closed\' and case.due_at < section.now %}<span class="badge badge--danger">{% translate "Overdue" %}</span> {% endif %}{{ case.due_at|date:"Y-m-d H:i" }}</td>\n            </tr>\n          {% endfor %}',
    "opp": '{% for opp in section.opportunities %}\n            <tr>\n              <td><a href="{{ opp.get_absolute_url }}">{{ opp.name }}</a></td>\n              <td><span class="badge{% if opp.stage == \'won\' %} badge--success{% elif opp.stage == \'lost\' %} badge--danger{% endif %}">{{ opp.get_stage_display }}</span></td>\n              <td class="num nowrap">{{ opp.amount|floatformat:"2g" }} {{ opp.currency }}</td>\n              <td class="nowrap">{{ opp.expected_close_on|date:"Y-m-d"|default:"—" }}</td>\n              <td class="nowrap">{{ opp.owner.get_full_name|default:opp.owner.username }}</td>\n            </tr>\n          {% endfor %}',
    "activity": '{% for activity in section.followups %}\n            <tr>\n              <td class="nowrap">{% if activity.follow_up_on < section.today %}<span class="badge badge--danger">{% translate "Overdue" %}</span> {% endif %}{{ activity.follow_up_on|date:"Y-m-d" }}</td>\n              <td>{{ activity.subject }}</td>\n              <td class="nowrap">{{ activity.user.get_full_name|default:activity.user.username }}</td>\n            </tr>\n          {% endfor %}',
    "payment": '{% for payment in section.payments %}\n            <tr>\n              <td class="nowrap"><a href="{{ payment.get_absolute_url }}">{{ payment.number }}</a></td>\n              <td class="nowrap">{{ payment.contract.number }}</td>\n              <td class="num nowrap">{{ payment.amount|floatformat:"2g" }} {{ payment.currency }}</td>\n              <td class="nowrap">{{ payment.due_on|date:"Y-m-d" }}</td>\n              <td class="nowrap">{% if payment.status == \'open\' and payment.due_on < section.today %}<span class="badge badge--danger">{% translate "Overdue" %}</span>{% else %}<span class="badge{% if payment.status == \'paid\' %} badge--success{% endif %}">{{ payment.get_status_display }}</span>{% endif %}</td>\n            </tr>\n          {% endfor %}',
}

NASTY = "A&B <script>alert(\"x\")</script> 'q'"
TAGS = {
    "entry": ("timeline_rows timeline.object_list", "timeline"),
    "contract": ("contract_rows section.contracts", "contracts"),
    "order": ("order_rows section.orders", "orders"),
    "case": ("case_rows section.cases section.now", "cases"),
    "opp": ("opportunity_rows section.opportunities", "opportunities"),
    "activity": ("followup_rows section.followups section.today", "followups"),
    "payment": ("payment_rows section.payments section.today", "payments"),
}


@pytest.fixture
def customer_with_everything(shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    today = timezone.localdate()
    ActivityFactory(customer=customer, subject=NASTY, follow_up_on=today - timedelta(days=2), notes=NASTY * 10)
    ActivityFactory(customer=customer, follow_up_on=today, user=None)
    OpportunityFactory(customer=customer, name=NASTY, stage="won", expected_close_on=today)
    OpportunityFactory(customer=customer, stage="lost", owner=None, amount=Decimal("1234567.5"))
    OpportunityFactory(customer=customer)
    contract = ContractFactory(quote__opportunity__customer=customer, amount=Decimal("0.00"), status="completed")
    OrderFactory(contract=contract, status="shipped")
    PaymentFactory(contract=contract, due_on=today - timedelta(days=1))
    PaymentFactory(contract=contract, status="paid", due_on=today - timedelta(days=1))
    PaymentFactory(contract=contract, status="cancelled")
    ServiceCaseFactory(customer=customer, subject=NASTY, severity="major", due_at=timezone.now() - timedelta(hours=1))
    ServiceCaseFactory(customer=customer, status="closed", due_at=timezone.now() - timedelta(hours=1))
    ServiceCaseFactory(customer=customer)
    return customer


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_each_row_tag_writes_what_its_template_loop_wrote(customer_with_everything, shenzhen_sales_rep, language):
    customer = customer_with_everything
    lists = _section_lists(customer.pk, list(_SECTION_LISTS))
    # The loops could not render a follow-up or opportunity without its user (`default:` with a
    # missing variable raises); the tags leave the cell empty (checked below).
    orphan_opportunities = [o for o in lists["opportunities"] if o.owner_id is None]
    orphan_followups = [a for a in lists["followups"] if a.user_id is None]
    assert len(orphan_opportunities) == len(orphan_followups) == 1
    lists["opportunities"] = [o for o in lists["opportunities"] if o.owner_id]
    lists["followups"] = [o for o in lists["followups"] if o.user_id]
    section = {**lists, "now": timezone.now(), "today": timezone.localdate()}
    timeline = customer_timeline(customer=customer, user=shenzhen_sales_rep, per_page=50)
    context = {"section": section, "timeline": timeline}
    # As in production: a missing value (an opportunity without owner) renders as "" (the test
    # settings make the site's engine raise instead).
    engine = Engine(libraries=get_installed_libraries())
    with translation.override(language):
        for var, (tag, name) in TAGS.items():
            rows = timeline.object_list if name == "timeline" else section[name]
            assert rows, name
            old = engine.from_string("{% load i18n %}" + OLD_LOOPS[var]).render(Context(context))
            new = engine.from_string("{% load interactions_360 %}{% " + tag + " %}").render(Context(context))
            assert new == old, name
            assert "<script>" not in new
    html = engine.from_string("{% load interactions_360 %}{% timeline_rows timeline.object_list %}").render(
        Context(context)
    )
    assert "A&amp;B &lt;script&gt;" in html
    orphan_rows = engine.from_string(
        "{% load interactions_360 %}{% opportunity_rows opportunities %}{% followup_rows followups today %}"
    ).render(
        Context({"opportunities": orphan_opportunities, "followups": orphan_followups, "today": timezone.localdate()})
    )
    assert orphan_rows.count('<td class="nowrap"></td>') == 2


def test_the_blank_activity_form_is_rendered_once_but_posts_for_each_customer_with_its_token(shenzhen_sales_rep):
    """The 360 page's "add activity" form comes from a per-process rendering with placeholders for
    the customer's id and the CSRF token: both must be this page's, and a post with them is accepted."""
    import re

    from django.test import Client
    from django.urls import reverse

    from interactions.models import Activity

    first, second = CustomerFactory(owner=shenzhen_sales_rep), CustomerFactory(owner=shenzhen_sales_rep)
    client = Client(enforce_csrf_checks=True)
    client.force_login(shenzhen_sales_rep)
    for customer in (first, second, first):
        html = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
        form = re.search(r'<form method="post" action="([^"]+)"[^>]*data-testid="activity-form".*?</form>', html, re.S)
        assert form is not None
        assert form.group(1) == reverse("interactions:activity_create", args=[customer.pk])
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(0)).group(1)
        assert "placeholder" not in token
        response = client.post(
            form.group(1), {"csrfmiddlewaretoken": token, "kind": "call", "subject": f"表单 {customer.pk}"}
        )
        assert response.status_code == 302
        assert Activity.objects.filter(customer=customer, subject=f"表单 {customer.pk}").exists()
    with translation.override("en"):
        english = client.get(reverse("customers:detail", args=[first.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert "Log activity" in english.content.decode()
    chinese = client.get(reverse("customers:detail", args=[first.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "Log activity" not in chinese.content.decode()


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC", "America/St_Johns"])
def test_row_dates_are_written_as_the_date_filter_writes_them(zone):
    from datetime import date, datetime

    from django.template.defaultfilters import date as date_filter

    from crm.rendering import date_text as _date

    values = [
        datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(2026, 12, 31, 16, 30, tzinfo=UTC),
        date(2026, 2, 3),
        date(5, 6, 7),
    ]
    with timezone.override(zone):
        for value in values:
            local = timezone.localtime(value) if isinstance(value, datetime) else value
            for fmt in ("Y-m-d", "Y-m-d H:i", "c"):
                if fmt != "Y-m-d" and not isinstance(value, datetime):
                    continue
                assert _date(value, fmt) == date_filter(local, fmt), (value, fmt)
    assert _date(None, "c") == ""


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_timeline_labels_from_the_per_language_tables_are_the_models_display_values(language):
    """`_status_label`, `_subkind_label` and the kind names come from tables built once per language:
    each equals what the model's choices give, in that language, for every code (and an unknown code
    stays as it is)."""
    from customers.team_models import CustomerMove
    from interactions.campaign_models import Campaign
    from interactions.models import Activity, ServiceCase
    from interactions.selectors import TIMELINE_MODELS, _status_label, _subkind_label, _timeline_labels

    subkinds = {"activity": Activity.Kind, "service_case": ServiceCase.Type, "account": CustomerMove.Kind}
    subkinds["campaign"] = Campaign.Kind
    with translation.override(language):
        for kind, model in TIMELINE_MODELS.items():
            assert _timeline_labels()[2][kind] == str(model._meta.verbose_name)
            choices = getattr(model, "Status", None) or getattr(model, "Stage", None)
            for code, label in choices.choices if choices else []:
                assert _status_label(kind, code) == str(label)
            assert _status_label(kind, "") == ""
            assert _status_label(kind, "no-such-code") == ("no-such-code" if choices else "")
            for code, label in subkinds[kind].choices if kind in subkinds else []:
                assert _subkind_label(kind, code) == str(label)
            assert _subkind_label(kind, "x") == ("x" if kind in subkinds else "")
    with translation.override("en"):
        assert _status_label("opportunity", "won") == "Won"
    with translation.override("zh-hans"):
        assert _status_label("opportunity", "won") != "Won"


@pytest.mark.parametrize("can_write", [True, False])
@pytest.mark.parametrize("token", ["tok&en<1>", None])
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_follow_up_pages_rows_are_what_the_row_partial_wrote(shenzhen_sales_rep, can_write, token, language):
    from django.template.loader import render_to_string

    from interactions.models import Activity

    today = timezone.localdate()
    customer = CustomerFactory(owner=shenzhen_sales_rep, name=NASTY)
    ActivityFactory(customer=customer, subject=NASTY, follow_up_on=today - timedelta(days=3))
    ActivityFactory(customer=customer, follow_up_on=today)  # the page lists its people's rows: always a user
    ActivityFactory(customer=customer, follow_up_on=today, follow_up_done=True, kind="visit")
    ActivityFactory(customer=customer, follow_up_on=today, user=None)  # a logged-by user since deleted
    activities = list(Activity.objects.filter(customer=customer).select_related("customer", "user").order_by("pk"))
    context = {"today": today, "can_write": can_write, "activities": activities}
    if token:
        context["csrf_token"] = token
    with translation.override(language):
        old = "".join(
            render_to_string("interactions/partials/_followup_row.html", {**context, "activity": activity})
            for activity in activities
        )
        engine = Engine(libraries=get_installed_libraries())
        new = engine.from_string("{% load interactions_360 %}{% followup_page_rows activities %}").render(
            Context(context)
        )
    assert new == old
    assert "&lt;script&gt;" in new and "<script>" not in new
