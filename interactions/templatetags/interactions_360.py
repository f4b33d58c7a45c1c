"""The table rows of the 360 page's interaction sections (and of the timeline), rendered in Python.

The 360 page shows up to seven short tables — ten timeline entries, follow-ups, opportunities,
contracts, orders, service cases, payments. Through the template engine their rows cost 20-25 ms
of CPU per page (variable lookups, a URL reversal, date and number filters per cell) of a page
that must answer in 100 ms (docs/performance.md). Each tag here writes what the `{% for %}` loop it
replaces wrote, whitespace included, with `format_html`, which escapes every value as the template
did; the filters are Django's own (`date`, `floatformat`, `truncatechars`, `capfirst`).
"""

from __future__ import annotations

from types import SimpleNamespace

from django import template
from django.template.defaultfilters import capfirst, floatformat, truncatechars
from django.template.defaulttags import CsrfTokenNode
from django.utils import translation
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from crm.rendering import PLACEHOLDER_PK, date_text, url_maker

register = template.Library()


def _user_name(user) -> str:
    """`{{ user.get_full_name|default:user.username }}` ("" without a user)."""
    if user is None:
        return ""
    return user.get_full_name() or user.username


def _amount(value) -> str:
    return floatformat(value, "2g")


_DISPLAY: dict[tuple[str, str, str], dict] = {}


def _display(obj, name: str) -> str:
    """`obj.get_<name>_display()`, from a table of the field's labels per language.

    Django's method builds a dict of every choice per call, hashing each lazy label (a translation
    lookup per choice): ~120 calls per 360 page were 3,000 lookups. Same result: the label of the
    stored value, else the value itself.
    """
    key = (obj._meta.label_lower, name, translation.get_language())
    labels = _DISPLAY.get(key)
    if labels is None:
        field = obj._meta.get_field(name)
        labels = _DISPLAY[key] = {value: str(label) for value, label in field.flatchoices}
    value = getattr(obj, name)
    return labels.get(value, value)


def _rows(html: list) -> str:
    return mark_safe("".join(html))  # noqa: S308 (every part went through format_html)


_TIMELINE_ROW = (
    '\n          <tr data-kind="{}">'
    '\n            <td class="nowrap muted"><time datetime="{}">{}</time></td>'
    '\n            <td class="nowrap">{}{}</td>'
    "\n            <td>"
    "\n              {}"
    "\n              {}"
    "\n            </td>"
    "\n            <td>{}</td>"
    '\n            <td class="num nowrap">{}</td>'
    '\n            <td class="nowrap">{}</td>'
    "\n          </tr>\n        "
)


@register.simple_tag
def timeline_rows(entries):
    """The `<tr>`s of `TimelineEntry`s (interactions/partials/_timeline.html)."""
    html = []
    for entry in entries:
        title = (
            format_html('<a href="{}">{}</a>', entry.url, entry.title)
            if entry.url
            else format_html("<strong>{}</strong>", entry.title)
        )
        html.append(
            format_html(
                _TIMELINE_ROW,
                entry.kind,
                date_text(entry.date, "c"),
                date_text(entry.date, "Y-m-d H:i"),
                capfirst(entry.kind_label),
                format_html(" · {}", entry.subkind) if entry.subkind else "",
                title,
                format_html('<div class="small muted">{}</div>', truncatechars(entry.summary, 160))
                if entry.summary
                else "",
                format_html('<span class="badge">{}</span>', entry.status) if entry.status else "",
                format_html("{} {}", _amount(entry.amount), entry.currency) if entry.amount is not None else "",
                entry.actor,
            )
        )
    return _rows(html)


@register.simple_tag
def followup_rows(followups, today):
    overdue = gettext("Overdue")
    html = []
    for activity in followups:
        late = activity.follow_up_on is not None and activity.follow_up_on < today
        html.append(
            format_html(
                "\n            <tr>"
                '\n              <td class="nowrap">{}{}</td>'
                "\n              <td>{}</td>"
                '\n              <td class="nowrap">{}</td>'
                "\n            </tr>\n          ",
                format_html('<span class="badge badge--danger">{}</span> ', overdue) if late else "",
                date_text(activity.follow_up_on, "Y-m-d"),
                activity.subject,
                _user_name(activity.user),
            )
        )
    return _rows(html)


_FOLLOWUP_PAGE_ROW = (
    '\n<tr id="followup-{}" data-testid="followup-row">'
    '\n  <td class="nowrap">'
    "\n    {}"
    '\n    <time datetime="{}">{}</time>'
    "\n  </td>"
    '\n  <td><a href="{}"><span class="nowrap">{}</span> {}</a>\n</td>'
    '\n  <td>{}<div class="muted small">{} · {}</div></td>'
    '\n  <td class="nowrap">{}</td>'
    '\n  <td class="nowrap">'
    "\n    {}"
    "\n  </td>"
    "\n</tr>\n"
)
_FOLLOWUP_DONE_FORM = (
    "\n      "
    '\n      <form method="post" action="{}" hx-post="{}" hx-target="closest tr" hx-swap="outerHTML">'
    "\n        {}"
    '\n        <button type="submit" class="btn btn--small">{}<span class="visually-hidden">: {}</span></button>'
    "\n      </form>"
    "\n    "
)


@register.simple_tag(takes_context=True)
def followup_page_rows(context, activities):
    """The `<tr>`s of the follow-ups page: what `{% for %}{% include "_followup_row.html" %}` wrote
    (that partial still renders the row an htmx "Mark done" swaps in). 50 rows through the template
    engine were ~60 % of a manager's request."""
    today, can_write = context.get("today"), context.get("can_write")
    csrf = CsrfTokenNode().render(context)  # what {% csrf_token %} writes, once for all rows
    detail, done = url_maker("customers:detail"), url_maker("interactions:followup_done")
    labels = {"done": gettext("Done"), "overdue": gettext("Overdue"), "today": gettext("Today")}
    mark_done = gettext("Mark done")
    html = []
    for activity in activities:
        if activity.follow_up_done:
            badge = format_html('<span class="badge badge--success">{}</span>\n    ', labels["done"])
        elif activity.follow_up_on < today:
            badge = format_html('<span class="badge badge--danger">{}</span>\n    ', labels["overdue"])
        else:
            badge = format_html('<span class="badge badge--warning">{}</span>', labels["today"])
        if can_write and not activity.follow_up_done:
            url = done(activity.pk)
            action = format_html(_FOLLOWUP_DONE_FORM, url, url, csrf, mark_done, activity.subject)
        else:
            action = ""
        due = date_text(activity.follow_up_on, "Y-m-d")
        customer = activity.customer
        html.append(
            format_html(
                _FOLLOWUP_PAGE_ROW,
                activity.pk,
                badge,
                due,
                due,
                detail(customer.pk),
                customer.number,
                customer.name,
                activity.subject,
                _display(activity, "kind"),
                date_text(activity.occurred_at, "Y-m-d H:i"),
                _user_name(activity.user),
                action,
            )
        )
    return _rows(html)


@register.simple_tag
def opportunity_rows(opportunities):
    url = url_maker("interactions:opportunity_detail")
    badges = {"won": " badge--success", "lost": " badge--danger"}
    html = []
    for opp in opportunities:
        html.append(
            format_html(
                "\n            <tr>"
                '\n              <td><a href="{}">{}</a></td>'
                '\n              <td><span class="badge{}">{}</span></td>'
                '\n              <td class="num nowrap">{} {}</td>'
                '\n              <td class="nowrap">{}</td>'
                '\n              <td class="nowrap">{}</td>'
                "\n            </tr>\n          ",
                url(opp.pk),
                opp.name,
                badges.get(opp.stage, ""),
                _display(opp, "stage"),
                _amount(opp.amount),
                opp.currency,
                date_text(opp.expected_close_on, "Y-m-d") or "—",
                _user_name(opp.owner),
            )
        )
    return _rows(html)


@register.simple_tag
def contract_rows(contracts):
    url = url_maker("interactions:contract_detail")
    html = []
    for contract in contracts:
        html.append(
            format_html(
                "\n            <tr>"
                '\n              <td class="nowrap"><a href="{}">{}</a></td>'
                '\n              <td><span class="badge">{}</span></td>'
                '\n              <td class="num nowrap">{} {}</td>'
                '\n              <td class="nowrap">{} – {}</td>'
                "\n            </tr>\n          ",
                url(contract.pk),
                contract.number,
                _display(contract, "status"),
                _amount(contract.amount),
                contract.currency,
                date_text(contract.start_on, "Y-m-d"),
                date_text(contract.end_on, "Y-m-d"),
            )
        )
    return _rows(html)


@register.simple_tag
def order_rows(orders):
    url = url_maker("interactions:order_detail")
    html = []
    for order in orders:
        html.append(
            format_html(
                "\n            <tr>"
                '\n              <td class="nowrap"><a href="{}">{}</a></td>'
                '\n              <td><span class="badge">{}</span></td>'
                '\n              <td class="num nowrap">{} {}</td>'
                '\n              <td class="nowrap">{}</td>'
                "\n            </tr>\n          ",
                url(order.pk),
                order.number,
                _display(order, "status"),
                _amount(order.amount),
                order.currency,
                date_text(order.ordered_on, "Y-m-d"),
            )
        )
    return _rows(html)


@register.simple_tag
def case_rows(cases, now):
    url = url_maker("interactions:case_detail")
    overdue = gettext("Overdue")
    html = []
    for case in cases:
        late = case.status != "closed" and case.due_at is not None and case.due_at < now
        html.append(
            format_html(
                "\n            <tr>"
                '\n              <td><a href="{}">{}</a> {}</td>'
                '\n              <td class="nowrap">{}{}</td>'
                '\n              <td class="nowrap"><span class="badge{}">{}</span></td>'
                '\n              <td class="nowrap">{}{}</td>'
                "\n            </tr>\n          ",
                url(case.pk),
                case.number,
                case.subject,
                _display(case, "type"),
                format_html(' <span class="badge badge--warning">{}</span>', _display(case, "severity"))
                if case.severity == "major"
                else "",
                " badge--success" if case.status == "closed" else "",
                _display(case, "status"),
                format_html('<span class="badge badge--danger">{}</span> ', overdue) if late else "",
                date_text(case.due_at, "Y-m-d H:i"),
            )
        )
    return _rows(html)


@register.simple_tag
def payment_rows(payments, today):
    url = url_maker("interactions:payment_detail")
    overdue = gettext("Overdue")
    html = []
    for payment in payments:
        if payment.status == "open" and payment.due_on is not None and payment.due_on < today:
            status = format_html('<span class="badge badge--danger">{}</span>', overdue)
        else:
            status = format_html(
                '<span class="badge{}">{}</span>',
                " badge--success" if payment.status == "paid" else "",
                _display(payment, "status"),
            )
        html.append(
            format_html(
                "\n            <tr>"
                '\n              <td class="nowrap"><a href="{}">{}</a></td>'
                '\n              <td class="nowrap">{}</td>'
                '\n              <td class="num nowrap">{} {}</td>'
                '\n              <td class="nowrap">{}</td>'
                '\n              <td class="nowrap">{}</td>'
                "\n            </tr>\n          ",
                url(payment.pk),
                payment.number,
                payment.contract.number if payment.contract is not None else "",
                _amount(payment.amount),
                payment.currency,
                date_text(payment.due_on, "Y-m-d"),
                status,
            )
        )
    return _rows(html)


# --- the "add activity" form -------------------------------------------------------------------

_ACTIVITY_FORM_TEMPLATE = "interactions/partials/_activity_form.html"
_CSRF_PLACEHOLDER = "csrf0placeholder0token"
_BLANK_FORMS: dict[tuple, str] = {}


@register.simple_tag(takes_context=True)
def activity_form(context, form, customer):
    """`{% include "interactions/partials/_activity_form.html" %}` with `activity_form=form` and `customer`.

    The blank form (every 360 page of those who may log an activity) renders its five widgets
    through a dozen templates: 5-7 ms of CPU for the same markup each time but for the customer's
    id in the form's URL and the CSRF token. It is rendered once per process, language and form
    class with placeholders, which are then replaced. A bound form (errors, what the user typed)
    is rendered as the include would.
    """
    template = context.template.engine.get_template(_ACTIVITY_FORM_TEMPLATE)
    if form.is_bound:
        with context.push(activity_form=form, customer=customer):
            return template.render(context)
    has_csrf = "csrf_token" in context
    key = (translation.get_language(), type(form), form.auto_id, has_csrf)
    if key not in _BLANK_FORMS:
        extra = {"activity_form": form, "customer": SimpleNamespace(pk=PLACEHOLDER_PK)}
        if has_csrf:
            extra["csrf_token"] = _CSRF_PLACEHOLDER
        with context.push(**extra):
            _BLANK_FORMS[key] = template.render(context)
    html = _BLANK_FORMS[key].replace(f"/{PLACEHOLDER_PK}/", f"/{customer.pk}/")
    if has_csrf:
        html = html.replace(_CSRF_PLACEHOLDER, conditional_escape(str(context["csrf_token"])))
    return mark_safe(html)  # noqa: S308 (rendered by the template engine; the token is escaped)
