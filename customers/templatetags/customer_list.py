"""The customer list's table rows and filter fields, rendered in Python.

The list is the page everyone opens most. Rendering its 25 rows through the template engine
took 12-14 ms of CPU (about a thousand variable lookups, a URL reversal and two date filters per
row) of a page that must answer in 50 ms (docs/performance.md, ADR 0014). This tag writes the
same markup with `format_html`, which escapes every value exactly as the template did.
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from crm.rendering import date_text, esc, url_maker

register = template.Library()


_MUTED_DASH = '<span class="muted">—</span>'


def _phone_cell(row, hidden_label: str) -> str:
    phone = row.phone
    if phone is not None:
        if phone.masked:
            return f'<span class="masked">{esc(phone.text)}</span>'
        return esc(phone.text or "—")
    if row.sees_contact:
        return _MUTED_DASH
    return f'<span class="hidden-value">{esc(hidden_label)}</span>'


@register.simple_tag
def customer_table_rows(rows, hidden_label):
    """`<tr>`s of `customers.selectors.CustomerListRow`s (see partials/_customer_results.html).

    f-strings with `esc` (Django's escaping) rather than `format_html`, whose per-argument check
    for lazy strings was half the cost of a row (docs/performance.md, session 7)."""
    url = url_maker("customers:detail")
    html = []
    for row in rows:
        badges = "".join(f'<span class="badge badge--info">{esc(n)}</span> ' for n in row.role_names)
        badges += "".join(f'<span class="badge">{esc(n)}</span> ' for n in row.tag_names)
        owner = esc(row.owner_label) if row.owner_label else _MUTED_DASH
        place = (
            f'<div class="muted small">{esc(row.province)} {esc(row.city)}</div>' if row.province or row.city else ""
        )
        html.append(
            f'<tr data-customer="{esc(row.pk)}">'
            f'<td class="nowrap">{esc(row.number)}</td>'
            f'<td><a href="{esc(url(row.pk))}">{esc(row.name)}</a></td>'
            f"<td>{esc(row.kind_label)}</td>"
            f'<td><span class="badge {esc(row.status_badge)}">{esc(row.status_label)}</span></td>'
            f'<td class="nowrap">{_phone_cell(row, hidden_label)}</td>'
            f"<td>{badges}</td>"
            f"<td>{owner}</td>"
            f"<td>{esc(row.unit_label)}{place}</td>"
            f'<td class="nowrap muted"><time datetime="{esc(date_text(row.updated_at, "c"))}">'
            f"{esc(date_text(row.updated_at, 'Y-m-d H:i'))}</time></td>"
            "</tr>"
        )
    return mark_safe("\n".join(html))  # noqa: S308 (every value went through esc)


# Django's own message (its catalogue translates it), named so that makemessages leaves it there.
_LABEL_PUNCTUATION = ":?.!"


def _label_markup(field):
    """`field.label_tag()` without its template (django/forms/label.html): a third of the fields' cost."""
    from django.utils.translation import gettext

    contents = field.label
    suffix = field.field.label_suffix if field.field.label_suffix is not None else field.form.label_suffix
    if suffix and contents and contents[-1] not in gettext(_LABEL_PUNCTUATION):
        contents = format_html("{}{}", contents, suffix)
    attrs = ""
    id_ = field.field.widget.attrs.get("id") or field.auto_id
    id_for_label = field.field.widget.id_for_label(id_) if id_ else ""
    if id_for_label:
        attrs += format_html(' for="{}"', id_for_label)
    if field.field.required and getattr(field.form, "required_css_class", None):
        attrs += format_html(' class="{}"', field.form.required_css_class)
    return format_html("<label{}>{}</label>", mark_safe(attrs), contents)  # noqa: S308 - escaped above


def _field_markup(field):
    """One field as templates/includes/form_field.html writes it (same elements, classes, ids and
    escaping; only the whitespace between tags differs)."""
    if field.is_hidden:
        return format_html("{}", field)
    classes = "field"
    if field.field.required:
        classes += " field--required"
    errors = field.errors
    if errors:
        classes += " field--error"
    checkbox = field.widget_type == "checkbox"
    if checkbox:
        classes += " field--checkbox"
        body = format_html('<label for="{}">{} {}</label>', field.id_for_label, field, field.label)
    elif field.use_fieldset:
        described = field.aria_describedby
        body = format_html(
            '<fieldset{}><legend class="field__label">{}</legend>{}</fieldset>',
            format_html(' aria-describedby="{}"', described) if described else "",
            field.label,
            field,
        )
    else:
        body = format_html("{}{}", _label_markup(field), field)
    help_html = ""
    if field.help_text:
        help_html = format_html(
            '<div class="field__help" id="{}_helptext">{}</div>',
            field.auto_id,
            mark_safe(field.help_text),  # noqa: S308 - the template's |safe: help texts are ours
        )
    errors_html = ""
    if errors:
        errors_html = format_html(
            '<ul class="field__errors" id="{}_error">{}</ul>',
            field.auto_id,
            format_html_join("", "<li>{}</li>", ((error,) for error in errors)),
        )
    return format_html('<div class="{}">{}{}{}</div>', classes, body, help_html, errors_html)


@register.simple_tag
def filter_fields(form, *skip):
    """Every field of `form` but those named in `skip`, each as includes/form_field.html renders it.

    The customer list's filter form has eight fields; through `{% include %}` and the field
    template they cost about 2 ms of the list's CPU on every request (docs/performance.md)."""
    return mark_safe("".join(_field_markup(field) for field in form if field.name not in skip))  # noqa: S308
