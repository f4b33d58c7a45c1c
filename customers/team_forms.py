"""Forms of account teams, the pool and bulk reassignment."""

from __future__ import annotations

import functools
from datetime import datetime, time

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.choices import BaseChoiceIterator
from django.utils.translation import gettext_lazy as _

from crm.widgets import FastSelect, PrerenderedSelect, user_option_rows
from customers.team_models import AccountTeamMember, AssignmentRule, TeamRole


class UserChoiceField(forms.ModelChoiceField):
    # Up to every active staff member (2,000 at scale): options without per-option templates
    # (crm/widgets.py) — the 360 page's team form cost a provincial manager 0.7 s otherwise.
    widget = FastSelect

    def label_from_instance(self, obj):
        name = obj.get_full_name().strip() or obj.get_username()
        unit = getattr(getattr(obj, "membership", None), "unit", None)
        return staff_label(name, obj.get_username(), unit.name if unit else "")

    def _set_queryset(self, queryset):
        super()._set_queryset(queryset)
        if queryset is not None:
            # The options from plain tuples, not 2,000 user + membership + unit instances.
            self.widget.choices = _UserOptions(queryset, self.empty_label)

    queryset = property(forms.ModelChoiceField._get_queryset, _set_queryset)


def staff_label(name: str, username: str, unit_name: str) -> str:
    """How the user pickers name a person: 张三 (zhangsan · 深圳办事处)."""
    return f"{name} ({username}{' · ' + unit_name if unit_name else ''})"


class _UserOptions(BaseChoiceIterator):
    """Lazy (value, label) options of a user queryset, read with one values_list query when rendered.

    A BaseChoiceIterator, so that the widget keeps it as it is: any other iterable is read twice by
    `normalize_choices` when it is assigned (to check its items, then to list them) — two queries of
    up to 2,000 users in the form's `__init__`, even when the form is never rendered.
    """

    def __init__(self, queryset, empty_label):
        self.queryset, self.empty_label = queryset, empty_label

    def __iter__(self):
        if self.empty_label is not None:
            yield ("", self.empty_label)
        for pk, name, username, unit_name in user_option_rows(self.queryset):
            yield (pk, staff_label(name, username, unit_name))


def _candidate_markup(customer) -> str:
    """`team_candidates`' options, from the cached staff options (customers.selectors)."""
    from customers.selectors import staff_option_markup

    excluded = set(AccountTeamMember.objects.filter(customer=customer).values_list("user_id", flat=True))
    excluded.add(customer.owner_id)
    return "".join(markup for pk, markup in staff_option_markup() if pk not in excluded)


def _end_of_day(day):
    return timezone.make_aware(datetime.combine(day, time(23, 59, 59))) if day else None


class TeamMemberForm(forms.Form):
    user = UserChoiceField(label=_("Person"), queryset=get_user_model().objects.none())
    team_role = forms.ModelChoiceField(label=_("Team role"), queryset=TeamRole.objects.none())
    access = forms.ChoiceField(label=_("Access"), choices=AccountTeamMember.Access.choices)
    expires_on = forms.DateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text=_("Empty: no end.")
    )
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)

    def __init__(self, *args, customer, **kwargs):
        from customers.teams import team_candidates

        super().__init__(*args, **kwargs)
        field = self.fields["user"]
        field.queryset = team_candidates(customer=customer)  # validates the choice
        # The options: every staff member from the shared cache, minus the owner and the team.
        field.widget = PrerenderedSelect(
            attrs=field.widget.attrs,
            markup=functools.partial(_candidate_markup, customer),
            empty_label=field.empty_label,
        )
        self.fields["team_role"].queryset = TeamRole.objects.filter(is_active=True)

    def clean_expires_on(self):
        day = self.cleaned_data.get("expires_on")
        if day and day < timezone.localdate():
            raise forms.ValidationError(_("The end date must not be in the past."))
        return day

    @property
    def expires_at(self):
        return _end_of_day(self.cleaned_data.get("expires_on"))


class PoolAssignForm(forms.Form):
    to_user = UserChoiceField(label=_("Assign to"), queryset=get_user_model().objects.none())

    def __init__(self, *args, users, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = users


class ReassignForm(forms.Form):
    from_user = UserChoiceField(label=_("Customers of"), queryset=get_user_model().objects.none())
    to_user = UserChoiceField(label=_("To one person"), queryset=get_user_model().objects.none(), required=False)
    unit = forms.ModelChoiceField(label=_("Or spread over the reps of"), queryset=None, required=False)
    strategy = forms.ChoiceField(
        label=_("Spread by"), choices=AssignmentRule.Strategy.choices, initial=AssignmentRule.Strategy.LEAST_LOADED
    )
    reason = forms.CharField(label=_("Reason"), max_length=300)

    def __init__(self, *args, users, units, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from_user"].queryset = users
        self.fields["to_user"].queryset = users.filter(is_active=True)
        self.fields["unit"].queryset = units

    def clean(self):
        data = super().clean()
        if bool(data.get("to_user")) == bool(data.get("unit")):
            raise forms.ValidationError(_("Choose either one person or a unit."))
        if data.get("to_user") and data.get("from_user") and data["to_user"].pk == data["from_user"].pk:
            raise forms.ValidationError(_("Choose someone else than the current owner."))
        return data
