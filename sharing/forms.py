"""Forms of the sharing pages. They validate input only; the services do the writing."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.field_groups import FIELD_GROUPS, MASKABLE
from sharing.models import AccessRequest, Action
from sharing.selectors import GRANT_KIND_LABELS
from sharing.services import MAX_SHARE_DAYS

DEFAULT_SHARE_DAYS = 30


def maskable_group_choices():
    return [(g, FIELD_GROUPS[g]) for g in FIELD_GROUPS if g in MASKABLE]


def end_of_day(day) -> datetime:
    """The last second of `day` in the current time zone (shares expire at the end of the chosen day)."""
    return timezone.make_aware(datetime.combine(day, time(23, 59, 59)))


class ShareForm(forms.Form):
    """Share one customer with a user or a group, until a date, with a reason."""

    TARGET_CHOICES = [("user", _("A user")), ("group", _("A group"))]

    target_type = forms.ChoiceField(
        label=_("Share with"), choices=TARGET_CHOICES, initial="user", widget=forms.RadioSelect
    )
    username = forms.CharField(
        label=_("Username"), max_length=150, required=False, help_text=_("The colleague's login name.")
    )
    group = forms.ModelChoiceField(
        label=_("Group"), queryset=Group.objects.order_by("name"), required=False, empty_label=_("Choose a group")
    )
    action = forms.ChoiceField(label=_("Access"), choices=Action.choices, initial=Action.VIEW, widget=forms.RadioSelect)
    expires_on = forms.DateField(
        label=_("Until (inclusive)"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("At most one year ahead."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=300, widget=forms.TextInput())

    def __init__(self, *args, granter=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.granter = granter
        if not self.is_bound:
            self.initial.setdefault("expires_on", timezone.localdate() + timedelta(days=DEFAULT_SHARE_DAYS))

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        today = timezone.localdate()
        if day < today:
            raise forms.ValidationError(_("Choose today or a later day."))
        if day > today + timedelta(days=MAX_SHARE_DAYS):
            raise forms.ValidationError(_("A share can last at most one year."))
        return day

    def clean(self):
        data = super().clean()
        if data.get("target_type") == "user":
            username = (data.get("username") or "").strip()
            if not username:
                self.add_error("username", _("Enter the username of the colleague."))
            else:
                user = get_user_model().objects.filter(username=username, is_active=True).first()
                if user is None:
                    self.add_error("username", _("No active user is called “%(name)s”.") % {"name": username})
                elif self.granter is not None and user.pk == self.granter.pk:
                    self.add_error("username", _("You cannot share a customer with yourself."))
                else:
                    data["user"] = user
            data["group"] = None
        elif data.get("target_type") == "group":
            if not data.get("group"):
                self.add_error("group", _("Choose a group."))
            data["user"] = None
        if data.get("expires_on"):
            data["expires_at"] = end_of_day(data["expires_on"])
        return data


class RevokeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)


class AccessRequestForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("What do you need?"), choices=AccessRequest.Kind.choices, initial=AccessRequest.Kind.VIEW
    )
    field_group = forms.ChoiceField(
        label=_("Details to unmask"),
        choices=[("", _("— only for unmasking —"))],
        required=False,
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Your manager sees this when deciding."),
    )
    duration_days = forms.IntegerField(
        label=_("For how many days"), min_value=1, max_value=90, initial=7, help_text=_("1 to 90 days.")
    )

    def __init__(self, *args, allowed_kinds=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field_group"].choices = [("", _("— only for unmasking —")), *maskable_group_choices()]
        if allowed_kinds is not None:
            self.fields["kind"].choices = [(k, v) for k, v in AccessRequest.Kind.choices if k in allowed_kinds]

    def clean(self):
        data = super().clean()
        if data.get("kind") == AccessRequest.Kind.UNMASK:
            if not data.get("field_group"):
                self.add_error("field_group", _("Choose the details you need to see in clear."))
        else:
            data["field_group"] = ""
        return data


class DecisionForm(forms.Form):
    DECISIONS = [("approve", _("Approve")), ("reject", _("Reject"))]

    decision = forms.ChoiceField(choices=DECISIONS)
    comment = forms.CharField(label=_("Comment"), max_length=500, required=False)

    def clean(self):
        data = super().clean()
        if data.get("decision") == "reject" and not (data.get("comment") or "").strip():
            self.add_error("comment", _("Tell the requester why you reject the request."))
        return data


class ReviewFilterForm(forms.Form):
    REASONS = [
        ("", _("Expiring soon or unused")),
        ("expiring", _("Expiring within 14 days")),
        ("unused", _("Unused for 90 days")),
    ]

    kind = forms.ChoiceField(label=_("Kind"), choices=list(GRANT_KIND_LABELS.items()), required=False)
    reason = forms.ChoiceField(label=_("Why"), choices=REASONS, required=False)
    q = forms.CharField(label=_("User, group or customer number"), max_length=100, required=False)

    def cleaned(self) -> dict:
        """Valid filters, with defaults for anything missing or invalid."""
        if not self.is_valid():
            return {"kind": "user", "reason": "", "q": ""}
        data = self.cleaned_data
        return {"kind": data.get("kind") or "user", "reason": data.get("reason") or "", "q": data.get("q") or ""}
