"""The customer list's rows (customers/templatetags/customer_list.py) are written with f-strings
and `esc`; this compares them with the `format_html` version they replaced (kept below as the
reference) for hostile values, masked, hidden and missing phones, and empty owner and place."""

import datetime

import pytest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from crm.rendering import date_text, url_maker
from customers.selectors import CustomerListRow
from customers.templatetags.customer_list import customer_table_rows
from sharing.presenters import ShownValue


# The former implementation (session 6), the reference.
def _phone_cell(row, hidden_label: str):
    phone = row.phone
    if phone is not None:
        if phone.masked:
            return format_html('<span class="masked">{}</span>', phone.text)
        return format_html("{}", phone.text or "—")
    if row.sees_contact:
        return mark_safe('<span class="muted">—</span>')  # noqa: S308 (a constant)
    return format_html('<span class="hidden-value">{}</span>', hidden_label)


def customer_table_rows_former(rows, hidden_label):
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


HOSTILE = '<script>alert("x")</script>&\'"'


def _row(pk, **changes):
    values = {
        "pk": pk,
        "number": f"C{pk:08d}",
        "name": HOSTILE + " 华信",
        "kind_label": "公司",
        "status": "active",
        "status_label": "正常<b>",
        "status_badge": 'badge--ok" onclick="x',
        "phone": ShownValue("138****5678", masked=True),
        "sees_contact": True,
        "role_names": ["客户", HOSTILE],
        "tag_names": ["VIP&"],
        "owner_label": "李<广东>",
        "unit_label": "广东省 & 深圳",
        "province": "广东",
        "city": "<深圳>",
        "updated_at": datetime.datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=datetime.UTC),
    }
    values.update(changes)
    return CustomerListRow(**values)


ROWS = [
    _row(1),
    _row(2, phone=ShownValue("13812345678"), role_names=[], tag_names=[], owner_label="", province="", city=""),
    _row(3, phone=None, sees_contact=True, province="", city="杭州"),
    _row(4, phone=None, sees_contact=False, updated_at=None),
    _row(5, phone=ShownValue(""), owner_label=mark_safe("<em>safe</em>")),
]


@pytest.mark.parametrize("hidden_label", ["已隐藏", '<hidden & "label">'])
def test_the_rows_are_the_markup_format_html_wrote(hidden_label):
    assert str(customer_table_rows(ROWS, hidden_label)) == str(customer_table_rows_former(ROWS, hidden_label))


def test_the_rows_escape_every_value():
    html = str(customer_table_rows(ROWS, "x"))
    assert "<script>" not in html and "<b>" not in html and 'onclick="x' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#x27;&quot;" in html
    assert "<em>safe</em>" in html  # safe strings stay as they are, as in templates
