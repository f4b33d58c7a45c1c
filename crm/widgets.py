"""Form widgets that stay fast with thousands of options.

Django renders every `<option>` of a `Select` through the widget templates (a template render
per option). For a user who sees everything, the customer list's owner filter holds ~2,000 users
and the unit filter ~450 units: cProfile of one list request showed 2.2 s of 2.9 s in those
option templates (docs/performance.md, finding 4). `FastSelect` renders the same markup with
string building: escaped labels and values, the same `selected` semantics, a few milliseconds.
"""

from __future__ import annotations

from html import escape

from django import forms
from django.forms.utils import flatatt
from django.utils.safestring import mark_safe


class FastSelect(forms.Select):
    """A single-choice select rendered without per-option templates (no optgroups)."""

    def render(self, name, value, attrs=None, renderer=None):
        final_attrs = self.build_attrs(self.attrs, attrs)
        final_attrs["name"] = name
        selected = {str(v) for v in self.format_value(value)}
        parts = [f"<select{flatatt(final_attrs)}>"]
        for option_value, label in self.choices:
            option_value = "" if option_value is None else str(option_value)
            mark = " selected" if option_value in selected else ""
            # The standard library's escape: what django.utils.html.escape does, without its lazy-string
            # wrapper (a third of the time for 2,450 options).
            parts.append(f'<option value="{escape(option_value)}"{mark}>{escape(str(label))}</option>')
        parts.append("</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every value and label is escaped above


class FastTextInput(forms.TextInput):
    """TextInput's markup (django/forms/widgets/input.html and attrs.html) without the two
    template renders: 0.1-0.2 ms per field, and the customer list renders two on every request."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [f'<input type="{escape(str(widget["type"]))}" name="{escape(str(widget["name"]))}"']
        if widget["value"] is not None:
            parts.append(f' value="{escape(str(widget["value"]))}"')
        for key, attr in widget["attrs"].items():
            if attr is False:
                continue
            parts.append(f" {escape(str(key))}" if attr is True else f' {escape(str(key))}="{escape(str(attr))}"')
        parts.append(">")
        return mark_safe("".join(parts))  # noqa: S308 - every value is escaped above


def options_markup(choices) -> str:
    """The `<option>` elements of (value, label) pairs, as FastSelect writes them, none selected."""
    return "".join(f'<option value="{escape(str(value))}">{escape(str(label))}</option>' for value, label in choices)


class PrerenderedSelect(forms.Select):
    """FastSelect's exact markup from `<option>` markup made in advance (`options_markup`).

    `markup` is a string or a zero-argument callable returning one, called only when the field is
    rendered: the customer list caches the owner, unit, role and tag options per view scope
    (customers.selectors.customer_filter_options), so a see-all user's 2,450 options cost neither
    their queries nor Django's normalisation of 2,450 choices on every list request. The first
    option is the empty one, labelled `empty_label`; the selected value is marked in the markup.
    The field's own queryset still validates submitted values.
    """

    def __init__(self, attrs=None, markup="", empty_label=""):
        # The empty first choice also tells Django that a required select may carry `required`.
        super().__init__(attrs, choices=[("", empty_label)])
        self.markup = markup
        self.empty_label = empty_label

    def render(self, name, value, attrs=None, renderer=None):
        final_attrs = self.build_attrs(self.attrs, attrs)
        final_attrs["name"] = name
        selected = {str(v) for v in self.format_value(value)}
        markup = self.markup() if callable(self.markup) else self.markup
        for chosen in selected - {""}:
            option = f'<option value="{escape(chosen)}">'
            markup = markup.replace(option, option[:-1] + " selected>", 1)
        empty_mark = " selected" if "" in selected else ""
        empty = f'<option value=""{empty_mark}>{escape(str(self.empty_label))}</option>'
        return mark_safe(f"<select{flatatt(final_attrs)}>{empty}{markup}</select>")  # noqa: S308 - escaped above


def user_option_rows(users):
    """(pk, display name, username, unit name) of a user queryset, from one values_list query.

    The display name is what `get_full_name() or username` gives, without building a user, a
    membership and a unit instance per option (2,000 of each for a see-all picker).
    """
    rows = users.values_list("pk", "first_name", "last_name", "username", "membership__unit__name")
    for pk, first, last, username, unit_name in rows:
        yield pk, f"{first} {last}".strip() or username, username, unit_name or ""
