"""Forms of the customer master pages.

The create and edit forms are built from the viewer's EDITABLE field groups only
(`CustomerPresenter.editable_groups()`): a field of any other group is not on the form, so a value
posted for it is ignored. Owner, org unit, number and version are never form fields that reach a
model; `version` is only the expected version handed to `customer_update`.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop, pgettext_lazy

from crm.widgets import FastSelect, FastTextInput, PrerenderedSelect
from customers.field_groups import CONTACT, CORE, IDENTITY
from customers.models import CompanyProfile, ContactPoint, Customer, CustomerRole, PersonProfile, Tag
from customers.services import ContactInput, CustomerInput, RelationshipInput, contact_validate
from customers.validators import validate_credit_code
from dedup.normalize import nfkc

# Provincial-level divisions, as addresses write them (suggestions for the province inputs).
PROVINCES = [
    "北京市",
    "天津市",
    "上海市",
    "重庆市",
    "河北省",
    "山西省",
    "辽宁省",
    "吉林省",
    "黑龙江省",
    "江苏省",
    "浙江省",
    "安徽省",
    "福建省",
    "江西省",
    "山东省",
    "河南省",
    "湖北省",
    "湖南省",
    "广东省",
    "海南省",
    "四川省",
    "贵州省",
    "云南省",
    "陕西省",
    "甘肃省",
    "青海省",
    "台湾省",
    "内蒙古自治区",
    "广西壮族自治区",
    "西藏自治区",
    "宁夏回族自治区",
    "新疆维吾尔自治区",
    "香港特别行政区",
    "澳门特别行政区",
]

MAX_ROWS = 30

# Customer role names are data (customers/migrations/0003); CustomerRole.__str__ translates them.
# Listed here so that makemessages puts them into the catalogue.
ROLE_NAMES = (
    gettext_noop("Customer"),
    gettext_noop("Debtor"),
    gettext_noop("Supplier"),
    gettext_noop("Partner"),
    gettext_noop("Prospect"),
)

# Profile fields per kind and field group (mirrors customers/field_groups.GROUP_FIELDS).
PROFILE_FIELDS = {
    Customer.Kind.COMPANY: {
        CORE: ["industry", "size", "website", "founded_on"],
        CONTACT: ["registered_address"],
        IDENTITY: ["credit_code"],
    },
    Customer.Kind.PERSON: {
        CORE: ["gender", "title"],
        CONTACT: [],
        IDENTITY: ["id_number", "birth_date", "marital_status"],
    },
}

# A relationship as read from the customer being edited: (direction, kind) → label.
RELATION_CHOICES = [
    ("out:employs", _("employs")),
    ("in:employs", _("works for")),
    ("out:holds", _("holds shares in")),
    ("in:holds", _("is held by")),
    ("out:parent_of", _("is parent of")),
    ("in:parent_of", _("is child of")),
    ("out:spouse_of", _("is spouse of")),
    ("out:related", _("is related to")),
]

# Who usually enters customers from where: the default "source" of a new customer by role.
DEFAULT_SOURCE_BY_ROLE = {
    "sales_manager": Customer.Source.KEY_ACCOUNT,
    "sales_rep": Customer.Source.KEY_ACCOUNT,
    "channel_manager": Customer.Source.CHANNEL,
    "dealer": Customer.Source.CHANNEL,
    "service_agent": Customer.Source.SERVICE,
}

ID_NUMBER_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def is_valid_id_number(value: str) -> bool:
    """Resident identity card number (GB 11643): 18 characters with a check character."""
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    total = sum(int(c) * w for c, w in zip(value[:17], ID_NUMBER_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == value[17]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


# --- contact points


class ContactForm(forms.Form):
    """One contact point row. The value is validated and normalised like the service does."""

    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=ContactPoint.Kind.choices,
        initial=ContactPoint.Kind.MOBILE,
        widget=forms.Select(attrs={"data-contact-kind": ""}),
    )
    value = forms.CharField(
        label=_("Value"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"data-duplicate-source": "", "autocomplete": "off"}),
    )
    province = forms.CharField(
        label=pgettext_lazy("address", "Province"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"list": "provinces"}),
    )
    city = forms.CharField(label=_("City"), max_length=50, required=False)
    district = forms.CharField(label=_("District"), max_length=50, required=False)
    postcode = forms.CharField(
        label=_("Postcode"), max_length=10, required=False, widget=forms.TextInput(attrs={"inputmode": "numeric"})
    )
    is_primary = forms.BooleanField(label=_("Primary"), required=False)
    marketing_consent = forms.BooleanField(label=_("Marketing consent"), required=False)

    def clean_postcode(self):
        postcode = nfkc(self.cleaned_data["postcode"])
        if postcode and not re.fullmatch(r"\d{6}", postcode):
            raise ValidationError(_("A postcode has six digits."))
        return postcode

    def clean(self):
        cleaned = super().clean()
        if self.cleaned_data.get("DELETE"):
            return cleaned
        kind, value = cleaned.get("kind"), cleaned.get("value", "")
        if kind and "value" not in self.errors:
            if not nfkc(value):
                self.add_error("value", _("Enter a value or remove this row."))
            else:
                try:
                    contact_validate(kind, value)
                except ValidationError as exc:
                    self.add_error("value", exc)
        return cleaned

    def has_changed(self):
        # The kind select always has a value; a new row counts as filled once something is typed.
        typed = ("value", "province", "city", "district", "postcode", "is_primary", "marketing_consent")
        return bool(self["id"].value()) or any(self[name].value() not in (None, "", False) for name in typed)

    @property
    def is_address(self):
        return (self["kind"].value() or "") == ContactPoint.Kind.ADDRESS


class BaseContactFormSet(forms.BaseFormSet):
    default_kinds: tuple[str, ...] = ()

    def get_form_kwargs(self, index):
        kwargs = super().get_form_kwargs(index)
        if index is not None and index >= self.initial_form_count() and index < len(self.default_kinds):
            kwargs["initial"] = {"kind": self.default_kinds[index]}
        return kwargs

    def clean(self):
        if any(self.errors):
            return
        primaries = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not form.has_changed() and not data.get("id"):
                continue
            if data.get("is_primary"):
                primaries[data["kind"]] = primaries.get(data["kind"], 0) + 1
        doubled = [kind for kind, count in primaries.items() if count > 1]
        if doubled:
            labels = ", ".join(str(ContactPoint.Kind(kind).label) for kind in doubled)
            raise ValidationError(_("Mark only one primary contact per kind (%(kinds)s).") % {"kinds": labels})

    def contact_inputs(self) -> list[ContactInput]:
        """What the service needs. When no row of a kind is marked primary, the first one is."""
        items = []
        for form in self.forms:
            data = form.cleaned_data
            if not data:
                continue
            if data.get("DELETE"):
                if data.get("id"):
                    items.append(ContactInput(kind=data.get("kind") or "", value="", id=data["id"], delete=True))
                continue
            if not data.get("id") and not form.has_changed():
                continue
            items.append(
                ContactInput(
                    kind=data["kind"],
                    value=data["value"],
                    is_primary=data["is_primary"],
                    marketing_consent=data["marketing_consent"],
                    province=data["province"],
                    city=data["city"],
                    district=data["district"],
                    postcode=data["postcode"],
                    id=data.get("id"),
                )
            )
        kept = [item for item in items if not item.delete]
        for kind in {item.kind for item in kept}:
            rows = [item for item in kept if item.kind == kind]
            if not any(item.is_primary for item in rows):
                rows[0].is_primary = True
        return items


ContactFormSet = forms.formset_factory(
    ContactForm, formset=BaseContactFormSet, extra=1, can_delete=True, max_num=MAX_ROWS, validate_max=True
)


class CreateContactFormSet(ContactFormSet):
    """A new customer's form starts with an empty mobile row and an empty email row."""

    default_kinds = (ContactPoint.Kind.MOBILE, ContactPoint.Kind.EMAIL)
    extra = 2


# --- relationships


class CustomerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} ({obj.number})"


class RelationshipForm(forms.Form):
    """A new relationship with another customer the user can see (picked through the autocomplete)."""

    other = CustomerChoiceField(
        label=_("Customer"),
        queryset=Customer.objects.none(),
        widget=forms.HiddenInput(attrs={"data-autocomplete-value": ""}),
        error_messages={
            "invalid_choice": _("Pick a customer from the suggestions."),
            "required": _("Pick a customer from the suggestions."),
        },
    )
    relation = forms.ChoiceField(label=_("Relationship"), choices=RELATION_CHOICES)
    share_percent = forms.DecimalField(
        label=_("Share %"),
        required=False,
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("100"),
    )
    title = forms.CharField(label=_("Position / note"), max_length=100, required=False)

    def __init__(self, *args, user=None, customer=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.customer = customer
        if user is not None:
            self.fields["other"].queryset = Customer.objects.visible_to(user).active()

    def has_changed(self):
        # The relation select always has a value; a row counts as filled once a customer is picked
        # or something else is typed.
        return any(self[name].value() not in (None, "") for name in ("other", "share_percent", "title"))

    def clean(self):
        cleaned = super().clean()
        other, relation = cleaned.get("other"), cleaned.get("relation") or ""
        if other is not None and self.customer is not None and other.pk == self.customer.pk:
            self.add_error("other", _("A customer cannot have a relationship with itself."))
        if not relation.endswith(":holds"):
            cleaned["share_percent"] = None
        return cleaned

    @property
    def other_label(self):
        """The picked customer's name for re-rendering a rejected form (core data, visible to the user)."""
        other = getattr(self, "cleaned_data", {}).get("other")
        if other is not None:
            return self.fields["other"].label_from_instance(other)
        value = self["other"].value()
        if value in (None, ""):
            return ""
        try:
            return self.fields["other"].label_from_instance(self.fields["other"].queryset.get(pk=value))
        except (Customer.DoesNotExist, ValueError, TypeError):
            return ""

    def relationship_input(self) -> RelationshipInput:
        """The row as the service takes it."""
        direction, kind = self.cleaned_data["relation"].split(":")
        return RelationshipInput(
            other=self.cleaned_data["other"],
            kind=kind,
            outgoing=direction == "out",
            share_percent=self.cleaned_data.get("share_percent"),
            title=nfkc(self.cleaned_data.get("title")),
        )


class BaseRelationshipFormSet(forms.BaseFormSet):
    def relationship_inputs(self) -> list[RelationshipInput]:
        return [
            form.relationship_input()
            for form in self.forms
            if form.cleaned_data and form.has_changed() and not form.cleaned_data.get("DELETE")
        ]


RelationshipFormSet = forms.formset_factory(
    RelationshipForm, formset=BaseRelationshipFormSet, extra=0, can_delete=True, max_num=MAX_ROWS, validate_max=True
)


class RelationshipRemovalField(forms.ModelMultipleChoiceField):
    """Existing relationships (with customers the user can see), labelled from this customer's side."""

    def __init__(self, *args, customer=None, **kwargs):
        self.customer = customer
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj):
        mine = obj.from_customer_id == self.customer.pk
        other = obj.to_customer if mine else obj.from_customer
        return f"{obj.label_for(self.customer.pk)} {other.name} ({other.number})"


def added_row(formset_class, prefix: str, index: int, **form_kwargs):
    """A blank form for row `index` of a formset, with the formset's extra fields (the delete box)."""
    formset = formset_class(prefix=prefix, form_kwargs=form_kwargs)
    form = formset.form(prefix=f"{prefix}-{index}", empty_permitted=True, use_required_attribute=False, **form_kwargs)
    formset.add_fields(form, index)
    return form


# --- the customer form


class CustomerForm(forms.Form):
    """Core, contact and identity fields of a customer, limited to the groups the user may edit."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    name = forms.CharField(label=_("Name"), max_length=200)
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[
            (Customer.Status.ACTIVE, Customer.Status.ACTIVE.label),
            (Customer.Status.INACTIVE, Customer.Status.INACTIVE.label),
        ],
    )
    source = forms.ChoiceField(label=_("Source"), choices=Customer.Source.choices, initial=Customer.Source.OTHER)
    roles = forms.ModelMultipleChoiceField(
        label=_("Roles"), queryset=CustomerRole.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    tags = forms.ModelMultipleChoiceField(
        label=_("Tags"), queryset=Tag.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    # company
    industry = forms.CharField(label=_("Industry"), max_length=60, required=False)
    size = forms.ChoiceField(label=_("Size"), choices=[("", "—"), *CompanyProfile.Size.choices], required=False)
    website = forms.URLField(label=_("Website"), required=False, assume_scheme="https")
    founded_on = forms.DateField(label=_("Founded on"), required=False, widget=DateInput)
    registered_address = forms.CharField(label=_("Registered address"), max_length=200, required=False)
    credit_code = forms.CharField(
        label=_("Unified social credit code"),
        max_length=18,
        required=False,
        help_text=_("18 characters, e.g. 91440300MA5FXXXX1X; the last one is a check character."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    # person
    gender = forms.ChoiceField(label=_("Gender"), choices=[("", "—"), *PersonProfile.Gender.choices], required=False)
    title = forms.CharField(label=_("Title"), max_length=60, required=False)
    id_number = forms.CharField(
        label=_("ID number"),
        max_length=18,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    birth_date = forms.DateField(label=_("Birth date"), required=False, widget=DateInput)
    marital_status = forms.ChoiceField(
        label=_("Marital status"), choices=[("", "—"), *PersonProfile.Marital.choices], required=False
    )
    # on-entry duplicate warning (enforced by dedup.services.duplicate_gate when it exists)
    confirm_duplicate = forms.BooleanField(label=_("This is not a duplicate: create it anyway"), required=False)
    duplicate_reason = forms.CharField(label=_("Why is it not a duplicate?"), max_length=300, required=False)

    CORE_FIELDS = ("name", "status", "source", "roles", "tags")

    def __init__(self, *args, kind: str, groups: set[str], creating: bool, removable=None, customer=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.groups = set(groups)
        self.creating = creating
        keep = set()
        if CORE in self.groups:
            keep.update(self.CORE_FIELDS)
        for group in self.groups:
            keep.update(PROFILE_FIELDS[kind].get(group, []))
        if creating:
            keep.discard("status")
            keep.update({"confirm_duplicate", "duplicate_reason"})
        else:
            keep.add("version")
            if CORE in self.groups and removable is not None:
                self.fields["remove_relationships"] = RelationshipRemovalField(
                    label=_("Remove relationships"),
                    queryset=removable,
                    customer=customer,
                    required=False,
                    widget=forms.CheckboxSelectMultiple,
                )
                keep.add("remove_relationships")
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        if "tags" in self.fields and not Tag.objects.exists():
            del self.fields["tags"]  # nothing to choose from until an administrator defines tags
        if "name" in self.fields:
            self.fields["name"].widget.attrs.update({"autocomplete": "off", "data-duplicate-source": ""})
        if "credit_code" in self.fields:
            self.fields["credit_code"].widget.attrs["data-duplicate-source"] = ""

    # --- field cleaning

    def clean_name(self):
        name = nfkc(self.cleaned_data["name"])
        if not name:
            raise ValidationError(_("Enter a name."))
        return name

    def clean_credit_code(self):
        code = nfkc(self.cleaned_data["credit_code"]).upper().replace(" ", "")
        validate_credit_code(code)
        return code

    def clean_id_number(self):
        value = nfkc(self.cleaned_data["id_number"]).upper().replace(" ", "")
        if value and not is_valid_id_number(value):
            raise ValidationError(
                _("Enter a valid 18-character resident ID number (the check character does not match).")
            )
        return value

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("confirm_duplicate") and not nfkc(cleaned.get("duplicate_reason")):
            self.add_error("duplicate_reason", _("Say why this is not a duplicate."))
        return cleaned

    # --- what the services need

    def profile_values(self) -> dict:
        names = [n for g in self.groups for n in PROFILE_FIELDS[self.kind].get(g, [])]
        values = {}
        for name in names:
            value = self.cleaned_data.get(name)
            values[name] = value if value is not None else (None if name in ("founded_on", "birth_date") else "")
        return values

    def fieldsets(self):
        """Visible fields grouped for the template: [(legend, [bound fields])]."""
        # Contact-group profile fields (registered address) sit with the contact points in the template.
        groups = [
            (_("Core"), [*self.CORE_FIELDS, *PROFILE_FIELDS[self.kind][CORE]]),
            (_("Identity"), PROFILE_FIELDS[self.kind][IDENTITY]),
        ]
        result = []
        for legend, names in groups:
            fields = [self[name] for name in names if name in self.fields]
            if fields:
                result.append((legend, fields))
        return result


class CustomerEditor:
    """The customer form with its contact and relationship formsets, built from the editable groups."""

    def __init__(self, *, user, kind: str, groups: set[str], customer: Customer | None = None, data=None):
        self.user = user
        self.kind = kind
        self.groups = set(groups)
        self.customer = customer
        self.creating = customer is None
        self.duplicate_refused = False
        removable = None
        initial = {}
        if customer is not None:
            from customers.selectors import customer_relationships_editable

            removable = customer_relationships_editable(user, customer)
            initial = self._initial(customer)
        self.form = CustomerForm(
            data,
            initial=initial,
            kind=kind,
            groups=self.groups,
            creating=self.creating,
            removable=removable,
            customer=customer,
        )
        if self.creating and "source" in self.form.fields and data is None:
            from sharing.principal import get_principal

            codes = get_principal(user).role_codes
            source = next((DEFAULT_SOURCE_BY_ROLE[c] for c in sorted(codes) if c in DEFAULT_SOURCE_BY_ROLE), None)
            if source:
                self.form.initial["source"] = source
        self.contacts = None
        if CONTACT in self.groups:
            formset_class = CreateContactFormSet if self.creating and data is None else ContactFormSet
            contact_initial = None
            if customer is not None and data is None:
                contact_initial = [
                    {
                        "id": cp.pk,
                        "kind": cp.kind,
                        "value": cp.value,
                        "province": cp.province,
                        "city": cp.city,
                        "district": cp.district,
                        "postcode": cp.postcode,
                        "is_primary": cp.is_primary,
                        "marketing_consent": cp.marketing_consent,
                    }
                    for cp in customer.contact_points.all()
                ]
            self.contacts = formset_class(data, initial=contact_initial, prefix="contacts")
        self.relationships = None
        if CORE in self.groups:
            self.relationships = RelationshipFormSet(
                data, prefix="relationships", form_kwargs={"user": user, "customer": customer}
            )

    @staticmethod
    def _initial(customer: Customer) -> dict:
        initial = {
            "version": customer.version,
            "name": customer.name,
            "status": customer.status,
            "source": customer.source,
            "roles": list(customer.roles.all()),
            "tags": list(customer.tags.all()),
        }
        profile = getattr(customer, "company" if customer.is_company else "person", None)
        if profile is not None:
            for group_fields in PROFILE_FIELDS[customer.kind].values():
                for name in group_fields:
                    initial[name] = getattr(profile, name)
        return initial

    @property
    def parts(self):
        return [p for p in (self.form, self.contacts, self.relationships) if p is not None]

    def is_valid(self) -> bool:
        # Validate every part (no short-circuit), so all errors show at once.
        return all([part.is_valid() for part in self.parts])  # noqa: C419

    @property
    def cleaned(self):
        return self.form.cleaned_data

    def customer_input(self) -> CustomerInput:
        data = self.cleaned
        return CustomerInput(
            kind=self.kind,
            name=data.get("name", ""),
            source=data.get("source") or Customer.Source.OTHER,
            roles=list(data.get("roles") or []),
            tags=list(data.get("tags") or []),
            profile=self.form.profile_values(),
            contacts=self.contacts.contact_inputs() if self.contacts is not None else [],
        )

    def relationship_inputs(self) -> list[RelationshipInput]:
        items = []
        for rel in self.cleaned.get("remove_relationships") or []:
            items.append(RelationshipInput(id=rel.pk, delete=True))
        if self.relationships is not None:
            items.extend(self.relationships.relationship_inputs())
        return items

    def update_kwargs(self) -> dict:
        """Arguments for customer_update: only what the user may edit."""
        data = self.cleaned
        kwargs: dict = {"expected_version": data.get("version") or 0}
        if CORE in self.groups:
            kwargs.update(
                name=data["name"],
                status=data["status"],
                source=data["source"],
                roles=list(data["roles"]),
                tags=list(data["tags"]) if "tags" in self.form.fields else None,
            )
        profile = self.form.profile_values()
        if profile:
            kwargs["profile"] = profile
        if self.contacts is not None:
            kwargs["contacts"] = self.contacts.contact_inputs()
        kwargs["relationships"] = self.relationship_inputs()
        return kwargs

    def add_error(self, exc: ValidationError) -> None:
        """A domain error from a service, shown on the field it names or on top of the form."""
        if hasattr(exc, "error_dict"):
            for field_name, errors in exc.error_dict.items():
                target = field_name if field_name in self.form.fields else None
                for error in errors:
                    self.form.add_error(target, error)
        else:
            self.form.add_error(None, exc)


# --- transfer


class TransferForm(forms.Form):
    new_owner = forms.ModelChoiceField(label=_("New owner"), queryset=get_user_model().objects.none())
    new_unit = forms.ModelChoiceField(
        label=_("New org unit"),
        queryset=None,
        required=False,
        help_text=_("Leave empty to use the new owner's unit."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=300, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, owners, units, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_owner"].queryset = owners
        self.fields["new_owner"].label_from_instance = lambda u: (
            f"{u.get_full_name() or u.username} ({u.username}) · {u.membership.unit.name}"
            if hasattr(u, "membership")
            else u.username
        )
        self.fields["new_unit"].queryset = units

    def clean(self):
        cleaned = super().clean()
        owner, unit = cleaned.get("new_owner"), cleaned.get("new_unit")
        if owner is not None and unit is None:
            membership = getattr(owner, "membership", None)
            if membership is None or not self.fields["new_unit"].queryset.filter(pk=membership.unit_id).exists():
                self.add_error("new_unit", _("Choose the unit: the new owner's own unit is not one you may assign."))
            else:
                cleaned["new_unit"] = membership.unit
        cleaned["reason"] = nfkc(cleaned.get("reason"))
        return cleaned


# --- list filters


def _options_of(markup, name: str):
    return lambda: markup()[name]


class CustomerFilterForm(forms.Form):
    """Filters of the customer list. Unknown or invalid values are ignored, never an error page."""

    STATUS_ALL = "all"
    SORTS = {
        "-updated": ("-updated_at", "-pk"),
        "name": ("name_normalized", "pk"),
        "number": ("number",),
        "-created": ("-created_at", "-pk"),
    }

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    kind = forms.ChoiceField(label=_("Kind"), choices=[("", _("All kinds")), *Customer.Kind.choices], required=False)
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[("", _("Current (not merged or erased)")), *Customer.Status.choices, (STATUS_ALL, _("All statuses"))],
        required=False,
    )
    role = forms.ModelChoiceField(
        label=_("Role"), queryset=CustomerRole.objects.all(), required=False, empty_label=_("All roles")
    )
    tag = forms.ModelChoiceField(label=_("Tag"), queryset=Tag.objects.all(), required=False, empty_label=_("All tags"))
    # Owner, unit, role and tag options come as markup cached per view scope (PrerenderedSelect, set in
    # __init__): a see-all user's filter offers ~2,000 owners and ~450 units (crm/widgets.py).
    owner = forms.ModelChoiceField(
        label=_("Owner"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label=_("Anyone"),
    )
    org_unit = forms.ModelChoiceField(label=_("Org unit"), queryset=None, required=False, empty_label=_("All units"))
    province = forms.CharField(
        label=pgettext_lazy("address", "Province"),
        required=False,
        max_length=30,
        widget=forms.TextInput(attrs={"list": "provinces"}),
    )
    sort = forms.ChoiceField(
        label=_("Sort by"),
        choices=[
            ("-updated", _("Recently updated")),
            ("name", _("Name")),
            ("number", _("Customer number")),
            ("-created", _("Newest")),
        ],
        required=False,
    )

    def __init__(self, *args, owners, units, options=None, **kwargs):
        """`owners` and `units` validate submitted values. `options` gives the owner, org_unit, role
        and tag `<option>` markup (customers.selectors.customer_filter_options, cached per view
        scope): a callable called only if the form is rendered; exports and campaigns that only
        read `filters()` never build it."""
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners
        self.fields["org_unit"].queryset = units
        if options is None:
            from customers.selectors import filter_options_markup

            options = functools.partial(filter_options_markup, owners, units)
        markup = functools.cache(options)
        for name in ("role", "tag", "owner", "org_unit"):
            field = self.fields[name]
            field.widget = PrerenderedSelect(markup=_options_of(markup, name), empty_label=field.empty_label)
        for name in ("kind", "status", "sort"):
            widget = self.fields[name].widget
            if type(widget) is forms.Select:
                # Same markup, no per-option template (crm/widgets.py); the list renders on every filter change.
                widget = self.fields[name].widget = FastSelect(attrs=widget.attrs, choices=widget.choices)
        for name in ("kind", "status", "role", "tag", "owner", "org_unit", "sort"):
            self.fields[name].widget.attrs["data-autosubmit"] = ""
        for name in ("q", "province"):
            # Same markup, no input and attrs templates (crm/widgets.py).
            widget = self.fields[name].widget
            fast = self.fields[name].widget = FastTextInput(attrs=widget.attrs)
            fast.is_required = widget.is_required

    def filters(self) -> dict:
        """The valid filters only: a bad value (e.g. a forged owner id) is dropped, not an error."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {name: value for name, value in data.items() if name not in self.errors and value not in (None, "")}

    @property
    def active_count(self):
        return len([k for k in self.filters() if k not in ("q", "sort")])


RELATION_LABELS = dict(RELATION_CHOICES)
