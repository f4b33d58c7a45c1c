"""Forms of the dedup pages: queue filters, merge with per-field survivorship, decisions, jobs."""

from django import forms
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from dedup.models import CandidatePair, DedupJob
from dedup.selectors import FIELD_DISPLAY
from sharing.models import OrgUnit


class QueueFilterForm(forms.Form):
    band = forms.ChoiceField(
        label=_("Score band"), choices=[("", _("All")), *CandidatePair.Band.choices], required=False
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=[("", _("All")), *Customer.Kind.choices], required=False)
    province = forms.CharField(label=_("Province"), max_length=30, required=False)

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}


class QualityFilterForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=[("", _("All")), *Customer.Kind.choices], required=False)
    stale = forms.BooleanField(label=_("Only records untouched for a long time"), required=False)

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        return {"kind": self.cleaned_data["kind"], "stale_only": self.cleaned_data["stale"]}


class MergeForm(forms.Form):
    """Which record survives, which value to keep per field (A or B), and why.

    Only fields the steward can see on both sides are offered (`fields` from pair_comparison);
    the others keep the service's defaults.
    """

    SIDES = [("a", "A"), ("b", "B")]

    survivor = forms.ChoiceField(label=_("Keep record"), choices=SIDES, widget=forms.RadioSelect, initial="a")
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text=_("Recorded in the audit trail, e.g. “same credit code, entered twice by two offices”."),
    )

    def __init__(self, *args, rows=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.choice_names = []
        self.defaults = {}
        for row in rows:
            if not row.choosable or not row.differ:
                continue
            name = f"field_{row.name}"
            # Not required: a value not posted keeps the default survivorship (non-empty, complete, recent).
            self.fields[name] = forms.ChoiceField(
                label=FIELD_DISPLAY[row.name][0],
                choices=self.SIDES,
                widget=forms.RadioSelect,
                initial=row.default,
                required=False,
            )
            self.choice_names.append(row.name)
            self.defaults[row.name] = row.default

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Please give a reason."))
        return reason

    def field_choices(self) -> dict[str, str]:
        """Per-field choices in the service's terms: "survivor" or "duplicate"."""
        keep = self.cleaned_data["survivor"]
        return {
            name: (
                "survivor" if (self.cleaned_data.get(f"field_{name}") or self.defaults[name]) == keep else "duplicate"
            )
            for name in self.choice_names
        }


class DecideForm(forms.Form):
    DECISIONS = [
        (CandidatePair.Status.NOT_DUPLICATE, _("Not a duplicate (never propose again)")),
        (CandidatePair.Status.DISMISSED, _("Dismiss for now")),
    ]
    decision = forms.ChoiceField(label=_("Decision"), choices=DECISIONS, widget=forms.RadioSelect)
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)


class UnmergeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    not_duplicate = forms.BooleanField(
        label=_("They are different customers: never propose this pair again"), required=False
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Please give a reason."))
        return reason


class JobForm(forms.Form):
    SCOPES = [("all", _("All customers")), ("province", _("One province")), ("unit", _("One org unit"))]

    kind = forms.ChoiceField(label=_("Job"), choices=DedupJob.Kind.choices, initial=DedupJob.Kind.DEDUP)
    scope = forms.ChoiceField(label=_("Customers"), choices=SCOPES, initial="all", widget=forms.RadioSelect)
    province = forms.CharField(
        label=_("Province"), max_length=30, required=False, widget=forms.TextInput(attrs={"list": "job-provinces"})
    )
    org_unit = forms.ModelChoiceField(label=_("Org unit"), queryset=OrgUnit.objects.none(), required=False)
    incremental = forms.BooleanField(label=_("Only customers changed since the last successful run"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = OrgUnit.objects.filter(is_active=True).order_by("path")

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        if scope == "province" and not data.get("province"):
            self.add_error("province", _("Choose a province."))
        if scope == "unit" and not data.get("org_unit"):
            self.add_error("org_unit", _("Choose an org unit."))
        return data

    def job_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "province": data["province"].strip() if data["scope"] == "province" else "",
            "org_unit": data["org_unit"] if data["scope"] == "unit" else None,
            "incremental": data["incremental"],
        }
