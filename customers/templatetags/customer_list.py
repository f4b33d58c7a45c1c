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

from crm.rendering import date_text, url_maker

register = template.Library()


def _phone_cell(row, hidden_label: str):
    phone = row.phone
    if phone is not None:
        if phone.masked:
            return format_html('<span class="masked">{}</span>', phone.text)
        return format_html("{}", phone.text or "—")
    if row.sees_contact:
        return mark_safe('<span class="muted">—</span>')  # noqa: S308 (a constant)
    return format_html('<span class="hidden-value">{}</span>', hidden_label)


@register.simple_tag
def customer_table_rows(rows, hidden_label):
    """`<tr>`s of `customers.selectors.CustomerListRow`s (see partials/_customer_results.html)."""
    url = url_maker("customers:detail")
    html = []
    for row in rows:
        badges = format_html_join("", '<span class="badge badge--info">{}</span> ', ((n,) for n in row.role_names))
        badges += format_html_join("", '<span class="badge">{}</span> ', ((n,) for n in row.tag_names))
        owner = (
            format_html("{}", row.owner_label) if row.owner_label else mark_safe('<span class="muted">—</span>')  # noqa: S308
        )
        place = (
            format_html('<div class="muted small">{} {}</div>', row.province, row.city)
            if row.province or row.city
            else ""
        )
        html.append(
            format_html(
                '<tr data-customer="{}">'
                '<td class="nowrap">{}</td>'
                '<td><a href="{}">{}</a></td>'
                "<td>{}</td>"
                '<td><span class="badge {}">{}</span></td>'
                '<td class="nowrap">{}</td>'
                "<td>{}</td>"
                "<td>{}</td>"
                "<td>{}{}</td>"
                '<td class="nowrap muted"><time datetime="{}">{}</time></td>'
                "</tr>",
                row.pk,
                row.number,
                url(row.pk),
                row.name,
                row.kind_label,
                row.status_badge,
                row.status_label,
                _phone_cell(row, hidden_label),
                badges,
                owner,
                row.unit_label,
                place,
                date_text(row.updated_at, "c"),
                date_text(row.updated_at, "Y-m-d H:i"),
            )
        )
    return mark_safe("\n".join(html))  # noqa: S308 (every part went through format_html)


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
