"""The default roles created by migration and their policies (administrators edit them in the admin).

Levels: 0 hidden, 1 masked, 2 visible, 3 editable. Interaction kinds name the record kinds of
interactions/ a role may see.
"""

SALES_CHAIN = ["activity", "opportunity", "quote", "contract", "order", "shipment"]
ALL_KINDS = [*SALES_CHAIN, "payment", "service_case"]

DEFAULT_ROLES = {
    "executive": {
        "name": "Executive",
        "view_scope": "all",
        "change_scope": "own",
        "field_levels": {"core": 2, "contact": 1, "identity": 1, "sales": 2, "service": 2, "finance": 2},
        "interaction_kinds": ALL_KINDS,
        "flags": ["can_export", "can_view_audit", "can_transfer", "can_manage_access"],
    },
    "sales_manager": {
        "name": "Sales manager",
        "view_scope": "subtree",
        "change_scope": "subtree",
        "field_levels": {"core": 3, "contact": 2, "identity": 1, "sales": 3, "service": 2},
        "interaction_kinds": [*SALES_CHAIN, "service_case"],
        "flags": ["can_export", "can_transfer", "can_manage_access"],
    },
    "sales_rep": {
        "name": "Sales rep",
        "view_scope": "own",
        "change_scope": "own",
        "field_levels": {"core": 3, "contact": 1, "identity": 1, "sales": 3, "service": 2},
        "interaction_kinds": [*SALES_CHAIN, "service_case"],
        "flags": [],
    },
    "channel_manager": {
        "name": "Channel manager",
        "view_scope": "subtree",
        "change_scope": "own",
        "field_levels": {"core": 3, "contact": 1, "identity": 0, "sales": 3},
        "interaction_kinds": SALES_CHAIN,
        "flags": [],
    },
    "dealer": {
        "name": "Dealer",
        "view_scope": "own",
        "change_scope": "own",
        "field_levels": {"core": 3, "contact": 1, "sales": 3},
        "interaction_kinds": ["activity", "opportunity", "quote", "order"],
        "flags": ["can_import"],
    },
    "service_agent": {
        "name": "Service agent",
        "view_scope": "all",
        "change_scope": "own",
        "field_levels": {"core": 2, "contact": 2, "identity": 1, "service": 3},
        "interaction_kinds": ["activity", "service_case"],
        "flags": [],
    },
    "finance_clerk": {
        "name": "Finance clerk",
        "view_scope": "all",
        "change_scope": "none",
        "field_levels": {"core": 2, "contact": 1, "finance": 3},
        "interaction_kinds": ["payment"],
        "flags": [],
    },
    "data_steward": {
        "name": "Data steward",
        "view_scope": "all",
        "change_scope": "all",
        "field_levels": {"core": 3, "contact": 3, "identity": 1, "sales": 2, "service": 2},
        "interaction_kinds": ["activity"],
        "flags": ["can_export", "can_import", "can_merge"],
    },
    "auditor": {
        "name": "Auditor",
        "view_scope": "all",
        "change_scope": "none",
        "field_levels": {"core": 2, "contact": 1, "identity": 1, "sales": 2, "service": 2, "finance": 2},
        "interaction_kinds": ALL_KINDS,
        "flags": ["can_view_audit"],
    },
    # Runs campaigns company-wide: sees every customer's core data (contacts masked), changes none.
    "marketing": {
        "name": "Marketing",
        "view_scope": "all",
        "change_scope": "none",
        "field_levels": {"core": 2, "contact": 1, "sales": 2},
        "interaction_kinds": ["activity", "opportunity"],
        "flags": [],
    },
    "administrator": {
        "name": "Administrator",
        "view_scope": "all",
        "change_scope": "all",
        "field_levels": {"core": 3, "contact": 3, "identity": 3, "sales": 3, "service": 3, "finance": 3},
        "interaction_kinds": ALL_KINDS,
        "flags": [
            "can_export",
            "can_import",
            "can_merge",
            "can_erase",
            "can_view_audit",
            "can_transfer",
            "can_manage_access",
        ],
    },
}

# The owner of a record sees and edits its contact and identity details in clear.
OWNER_LEVELS = {"core": 3, "contact": 3, "identity": 3}
