"""The customer list's table rows, rendered in Python.

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
