"""Small pieces for template tags that write table rows in Python (the hottest pages).

The customer list (customers/templatetags/customer_list.py) and the 360 page's sections
(interactions/templatetags/interactions_360.py) write their rows with `format_html` instead of a
`{% for %}` loop; these are the helpers both need, each giving exactly what the template filter
or tag it replaces gave.
"""

from __future__ import annotations

from html import escape as _html_escape

from django.urls import reverse
from django.utils import dateformat, timezone

PLACEHOLDER_PK = 987654321  # an id no row has, replaced per row


def esc(value) -> str:
    """`conditional_escape(value)` as a plain str, for markup joined with f-strings.

    The same text Django's `escape` gives (it is `html.escape(str(value))`), and safe strings
    (`__html__`) pass unchanged; without `format_html`'s per-argument lazy-string check, which was
    most of the cost of writing a row.
    """
    if hasattr(value, "__html__"):
        return value.__html__()
    return _html_escape(str(value))


def url_maker(viewname: str):
    """`{% url viewname pk %}` for many rows: one reversal, then a replace per row."""
    url = reverse(viewname, args=[PLACEHOLDER_PK])
    return lambda pk: url.replace(str(PLACEHOLDER_PK), str(pk))


def date_text(value, fmt: str) -> str:
    """The `date` filter: datetimes in the current time zone, "" for None.

    The three formats the rows use are written directly as django.utils.dateformat writes them
    ("Y" is "%04d", "m d H i" are "%02d", "c" is isoformat()): a third of the rows' cost otherwise."""
    if value in (None, ""):
        return ""
    if hasattr(value, "tzinfo") and timezone.is_aware(value):
        value = timezone.localtime(value)
    if fmt == "Y-m-d":
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if fmt == "Y-m-d H:i":
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}"
    if fmt == "c":
        return value.isoformat()
    return dateformat.format(value, fmt)
