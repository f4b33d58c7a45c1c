"""Field groups: which customer fields belong together for access and masking.

A role policy sets each group to hidden, masked, visible or editable (sharing.FieldLevel).
`core` is always at least visible to anyone who can see the customer at all.
"""

from django.utils.translation import gettext_lazy as _

CORE = "core"
CONTACT = "contact"
IDENTITY = "identity"
SALES = "sales"
SERVICE = "service"
FINANCE = "finance"

FIELD_GROUPS = {
    CORE: _("Core"),
    CONTACT: _("Contact details"),
    IDENTITY: _("Identity"),
    SALES: _("Sales"),
    SERVICE: _("Service"),
    FINANCE: _("Finance"),
}

# Which model fields each group covers (profile fields by model).
GROUP_FIELDS = {
    CORE: {
        "customer": ["name", "kind", "status", "roles", "tags", "source"],
        "company": ["industry", "size", "website", "founded_on"],
        "person": ["gender", "title"],
    },
    CONTACT: {"contactpoint": ["value"], "company": ["registered_address"]},
    IDENTITY: {"company": ["credit_code"], "person": ["id_number", "birth_date", "marital_status"]},
    SALES: {},
    SERVICE: {},
    FINANCE: {},
}

# Groups whose values are maskable (the others are simply shown or hidden).
MASKABLE = {CONTACT, IDENTITY}
