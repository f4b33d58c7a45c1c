"""Forms of the interactions pages. They validate input; the rules themselves live in services."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from interactions.models import Activity, Currency, Opportunity, ServiceCase

DATETIME_INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


def amount_field(**kwargs):
    return forms.DecimalField(
        label=kwargs.pop("label", _("Amount")),
        max_digits=14,
        decimal_places=2,
        min_value=0,
        error_messages={"min_value": _("An amount cannot be negative.")},
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}),
        **kwargs,
    )


def apply_error(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form: on its fields where they exist, else on top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class ActivityForm(forms.Form):
    """Log an activity. Ids are prefixed so the form can sit on the 360 page beside others."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "activity_%s")
        super().__init__(*args, **kwargs)

    kind = forms.ChoiceField(label=_("Kind"), choices=Activity.Kind.choices, initial=Activity.Kind.CALL)
    subject = forms.CharField(label=_("Subject"), max_length=200)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    occurred_at = forms.DateTimeField(
        label=_("When"),
        required=False,
        input_formats=DATETIME_INPUT_FORMATS,
        widget=DateTimeInput(),
        help_text=_("Leave empty for now."),
    )
    follow_up_on = forms.DateField(label=_("Next follow-up"), required=False, widget=DateInput())

    def clean_occurred_at(self):
        value = self.cleaned_data.get("occurred_at")
        if value and value > timezone.now() + timedelta(minutes=5):
            raise ValidationError(_("An activity cannot have happened in the future."))
        return value


class OpportunityForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    amount = amount_field(initial=0)
    currency = forms.ChoiceField(label=_("Currency"), choices=Currency.choices, initial=Currency.CNY)
    expected_close_on = forms.DateField(label=_("Expected close date"), required=False, widget=DateInput())
    probability = forms.IntegerField(label=_("Probability (%)"), min_value=0, max_value=100, required=False)
    campaign = forms.ModelChoiceField(
        label=_("From campaign"),
        queryset=None,
        required=False,
        help_text=_("Campaigns this customer took part in; the campaign's results count the opportunity."),
    )

    def __init__(self, *args, campaigns=None, **kwargs):
        from interactions.campaign_models import Campaign

        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = campaigns if campaigns is not None else Campaign.objects.none()


class OpportunityStageForm(forms.Form):
    stage = forms.ChoiceField(label=_("New stage"), choices=Opportunity.Stage.choices)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        required=False,
        help_text=_("Required when the opportunity is lost."),
    )

    def clean(self):
        data = super().clean()
        if data.get("stage") == Opportunity.Stage.LOST and not (data.get("reason") or "").strip():
            self.add_error("reason", _("Say why the opportunity was lost."))
        return data


class QuoteForm(forms.Form):
    amount = amount_field()
    currency = forms.ChoiceField(label=_("Currency"), choices=Currency.choices)
    issued_on = forms.DateField(label=_("Issued on"), widget=DateInput(), initial=timezone.localdate)
    valid_until = forms.DateField(label=_("Valid until"), required=False, widget=DateInput())
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ContractForm(forms.Form):
    amount = amount_field()
    signed_on = forms.DateField(label=_("Signed on"), required=False, widget=DateInput())
    start_on = forms.DateField(label=_("Start date"), widget=DateInput())
    end_on = forms.DateField(label=_("End date"), widget=DateInput())
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self):
        data = super().clean()
        if data.get("start_on") and data.get("end_on") and data["end_on"] < data["start_on"]:
            self.add_error("end_on", _("The end date must not be before the start date."))
        return data


class OrderForm(forms.Form):
    amount = amount_field()
    ordered_on = forms.DateField(label=_("Ordered on"), widget=DateInput(), initial=timezone.localdate)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ShipmentForm(forms.Form):
    shipped_on = forms.DateField(
        label=_("Shipped on"), required=False, widget=DateInput(), help_text=_("Leave empty while it is prepared.")
    )
    carrier = forms.CharField(label=_("Carrier"), max_length=100, required=False)
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=100, required=False)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ContractChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.number} · {obj.amount} {obj.currency} ({obj.get_status_display()})"


class PaymentForm(forms.Form):
    contract = ContractChoiceField(label=_("Contract"), queryset=None, empty_label=None)
    amount = amount_field()
    due_on = forms.DateField(label=_("Due date"), widget=DateInput())
    paid_on = forms.DateField(
        label=_("Paid on"), required=False, widget=DateInput(), help_text=_("Leave empty until it is received.")
    )
    override_note = forms.CharField(
        label=_("Override note"),
        max_length=300,
        required=False,
        help_text=_("Required only when the amount is more than the contract's open amount."),
    )
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, contracts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contract"].queryset = contracts


class PaymentPaidForm(forms.Form):
    paid_on = forms.DateField(label=_("Paid on"), widget=DateInput(), initial=timezone.localdate)


class DocumentStatusForm(forms.Form):
    status = forms.CharField(max_length=20)


class CaseForm(forms.Form):
    type = forms.ChoiceField(label=_("Type"), choices=ServiceCase.Type.choices, initial=ServiceCase.Type.COMPLAINT)
    subject = forms.CharField(label=_("Subject"), max_length=200)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    category = forms.ChoiceField(
        label=_("Category"), choices=ServiceCase.Category.choices, initial=ServiceCase.Category.OTHER
    )
    severity = forms.ChoiceField(
        label=_("Severity"), choices=ServiceCase.Severity.choices, initial=ServiceCase.Severity.NORMAL
    )
    received_at = forms.DateTimeField(
        label=_("Received at"),
        required=False,
        input_formats=DATETIME_INPUT_FORMATS,
        widget=DateTimeInput(),
        help_text=_("Leave empty for now."),
    )


class UnitsField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{'— ' * obj.depth}{obj.name}"


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        name = obj.get_full_name() or obj.get_username()
        unit = getattr(getattr(obj, "membership", None), "unit", None)
        return f"{name} ({unit.name})" if unit else name


class CaseAdvanceForm(forms.Form):
    """One step of the complaint workflow; the template shows the fields the next step needs."""

    to_status = forms.ChoiceField(choices=ServiceCase.Status.choices, widget=forms.HiddenInput)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    category = forms.ChoiceField(label=_("Category"), choices=ServiceCase.Category.choices, required=False)
    severity = forms.ChoiceField(label=_("Severity"), choices=ServiceCase.Severity.choices, required=False)
    units = UnitsField(label=_("Responsible units"), queryset=None, required=False)
    responsible_user = UserChoiceField(label=_("Responsible person"), queryset=None, required=False)
    solution = forms.CharField(label=_("Solution"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    result = forms.CharField(
        label=_("Result reported to the customer"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    STEP_FIELDS = {
        "assessed": ("note",),
        "classified": ("category", "severity", "note"),
        "assigned": ("units", "responsible_user", "note"),
        "solution_drafted": ("solution", "note"),
        "solution_done": ("note",),
        "result_reported": ("result", "note"),
    }

    def __init__(self, *args, **kwargs):
        from sharing.models import OrgUnit

        super().__init__(*args, **kwargs)
        self.fields["units"].queryset = OrgUnit.objects.filter(is_active=True).order_by("path")
        self.fields["responsible_user"].queryset = (
            get_user_model()
            .objects.filter(is_active=True, membership__isnull=False)
            .select_related("membership__unit")
            .order_by("last_name", "first_name", "username")
        )

    def step_fields(self, status: str):
        return [self[name] for name in self.STEP_FIELDS.get(status, ("note",))]


class CaseCloseForm(forms.Form):
    satisfaction = forms.TypedChoiceField(
        label=_("Customer satisfaction (1–5)"),
        choices=[("", _("Not given"))] + [(str(i), str(i)) for i in range(1, 6)],
        coerce=int,
        empty_value=None,
        required=False,
    )
    recommend = forms.TypedChoiceField(
        label=_("Likelihood to recommend (0–10)"),
        choices=[("", _("Not given"))] + [(str(i), str(i)) for i in range(0, 11)],
        coerce=int,
        empty_value=None,
        required=False,
    )
    resolution = forms.CharField(label=_("Resolution"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class CaseReopenForm(forms.Form):
    to_status = forms.ChoiceField(label=_("Reopen to"), choices=ServiceCase.Status.choices)
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
