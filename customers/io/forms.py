"""Forms of the import, export and personal-data pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from customers.io import formats
from customers.io.importer import DECISIONS, MAX_BYTES


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_("CSV (UTF-8 or GBK) or Excel .xlsx, up to %(mb)s MB.") % {"mb": MAX_BYTES // 1048576},
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.xlsx"}),
    )
    dry_run = forms.BooleanField(label=_("Only check the file (dry run)"), required=False)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(
                _("The file is %(size)s MB; the limit is %(limit)s MB. Split it into smaller files.")
                % {"size": round(upload.size / 1048576, 1), "limit": MAX_BYTES // 1048576}
            )
        return upload


FIELD_CHOICES = [("", _("— ignore this column —"))] + [
    (c.field, f"{c.zh} / {c.en}") for c in formats.COLUMNS if c.field != "number"
]


class ImportMappingForm(forms.Form):
    """One select per file column: which field it holds, or ignore."""

    def __init__(
        self, *args, headers: list[str], mapping: dict[str, str], samples: list[list[str]] | None = None, **kw
    ):
        super().__init__(*args, **kw)
        self.columns = []
        for index, header in enumerate(headers):
            name = f"col_{index}"
            self.fields[name] = forms.ChoiceField(
                label=header or _("(column %(n)s without a header)") % {"n": index + 1},
                choices=FIELD_CHOICES,
                required=False,
                initial=mapping.get(str(index), ""),
            )
            example = [row[index] for row in (samples or []) if index < len(row) and row[index]][:2]
            self.columns.append((self[name], example))

    def mapping(self) -> dict[str, str]:
        return {name[4:]: value for name, value in self.cleaned_data.items() if name.startswith("col_") and value}


class ImportDecisionForm(forms.Form):
    new = forms.ChoiceField(
        label=_("New customers"),
        choices=[("create", _("Create them")), ("skip", _("Skip them"))],
        widget=forms.RadioSelect,
        initial="create",
    )
    existing = forms.ChoiceField(
        label=_("Likely duplicates of existing customers"),
        choices=[
            ("merge", _("Merge into the existing customer (fill empty fields, add new contact points)")),
            ("skip", _("Skip them")),
            ("create", _("Create them anyway")),
        ],
        widget=forms.RadioSelect,
        initial="merge",
    )
    infile = forms.ChoiceField(
        label=_("Duplicates within the file"),
        choices=[
            ("merge", _("Merge into the first row's customer")),
            ("skip", _("Skip them")),
            ("create", _("Create them anyway")),
        ],
        widget=forms.RadioSelect,
        initial="merge",
    )

    def decisions(self) -> dict[str, str]:
        return {group: self.cleaned_data[group] for group in DECISIONS}


class PrivacyExportForm(forms.Form):
    reason = forms.CharField(
        label=_("Request reference"),
        max_length=300,
        required=False,
        help_text=_("E.g. the ticket number of the person's request. Do not enter personal data."),
    )


class PrivacyEraseForm(forms.Form):
    confirm_number = forms.CharField(
        label=_("Type the customer number to confirm"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    reason = forms.CharField(
        label=_("Request reference"),
        max_length=300,
        help_text=_("E.g. the ticket number of the person's request. Do not enter personal data."),
    )

    def __init__(self, *args, number: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.number = number

    def clean_confirm_number(self):
        value = self.cleaned_data["confirm_number"].strip().upper()
        if value != self.number:
            raise forms.ValidationError(_("This is not the number of this customer."))
        return value
