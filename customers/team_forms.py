"""Forms of account teams, the pool and bulk reassignment."""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.choices import BaseChoiceIterator
from django.utils.translation import gettext_lazy as _

from crm.widgets import FastSelect, user_option_rows
from customers.team_models import AccountTeamMember, AssignmentRule, TeamRole


class UserChoiceField(forms.ModelChoiceField):
    # Up to every active staff member (2,000 at scale): options without per-option templates
    # (crm/widgets.py) — the 360 page's team form cost a provincial manager 0.7 s otherwise.
    widget = FastSelect

    def label_from_instance(self, obj):
        return user_staff_label(obj)

    def _set_queryset(self, queryset):
        super()._set_queryset(queryset)
        if queryset is not None:
            # The options from plain tuples, not 2,000 user + membership + unit instances.
            self.widget.choices = _UserOptions(queryset, self.empty_label)

    queryset = property(forms.ModelChoiceField._get_queryset, _set_queryset)


def staff_label(name: str, username: str, unit_name: str) -> str:
    """How the user pickers name a person: 张三 (zhangsan · 深圳办事处)."""
    return f"{name} ({username}{' · ' + unit_name if unit_name else ''})"


def user_staff_label(user) -> str:
    """`staff_label` of a user instance (its membership and unit read from the instance)."""
    unit = getattr(getattr(user, "membership", None), "unit", None)
    return staff_label(
        user.get_full_name().strip() or user.get_username(), user.get_username(), unit.name if unit else ""
    )


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


def _end_of_day(day):
    return timezone.make_aware(datetime.combine(day, time(23, 59, 59))) if day else None


class TeamMemberForm(forms.Form):
    # Picked through teams:team_candidates (a search over name, username and unit, customers.js
    # puts the pick into this hidden field): a <select> of every staff member was 2,000 options,
    # 118 KB of every manager's 360 page. The queryset still validates the choice.
    user = forms.ModelChoiceField(
        label=_("Person"),
        queryset=get_user_model().objects.none(),
        widget=forms.HiddenInput(attrs={"data-autocomplete-value": ""}),
        error_messages={"required": _("Search for a person and pick one of the suggestions.")},
    )
    team_role = forms.ModelChoiceField(label=_("Team role"), queryset=TeamRole.objects.none())
    access = forms.ChoiceField(label=_("Access"), choices=AccountTeamMember.Access.choices)
    expires_on = forms.DateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text=_("Empty: no end.")
    )
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)

    def __init__(self, *args, customer, **kwargs):
        from customers.teams import team_candidates

        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = team_candidates(customer=customer)  # validates the choice
        self.fields["team_role"].queryset = TeamRole.objects.filter(is_active=True)

    @property
    def user_label(self) -> str:
        """The picked person as the search box shows it, so a rejected form keeps the pick."""
        if not self.is_bound or self.errors.get("user"):
            return ""
        user = self.cleaned_data.get("user") if hasattr(self, "cleaned_data") else None
        return user_staff_label(user) if user is not None else ""

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
