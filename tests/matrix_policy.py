"""The authorization matrix's policy table (TESTING.md T1): every URL pattern of the project, classified.

tests/test_authorization_matrix.py walks every URL pattern (admin, htmx partials, exports and
autocomplete included) and fails on any pattern without a row here. Adding an endpoint = adding one
line: `"app:name": <class>(...)`. The classes say what the generic checks expect:

    public()                      anyone; no customer data.
    login_only()                  any logged-in user; anonymous → login. Lists and searches are
                                  login_only too: the canary check proves they show only what
                                  visible_to allows, with masked fields masked.
    role_restricted("flag")       needs a principal flag (sharing.principal.FLAG_NAMES); without it
                                  403 or 404 and no customer data.
    customer_object()             takes a customer pk (`pk` or `customer_pk`): 404 unless the user
                                  may see the customer (action="change": change it); kind="…" also
                                  needs the roles to see that record kind; flag="…" a principal flag.
    related_object("kind")        takes the pk of an interaction record of that kind (activity,
                                  opportunity, quote, contract, order, shipment, payment,
                                  service_case): 404 unless its customer is visible and the roles
                                  see the kind.
    foreign_object("target")      takes the pk of an object no test persona may reach (someone
                                  else's access request or share, a missing pk …): 404 for all,
                                  unless `allowed` says otherwise.
    Every admin URL is covered by ADMIN_NAMESPACE (the admin site answers non-staff with its login).

Common options:
    methods   the HTTP methods the endpoint serves: GET, POST or GET_POST. A POST-only endpoint must
              refuse GET (405, or 404); POSTs carry forged fields (owner, org unit, version …) that
              must change nothing, and a refused POST must change no rows.
    allowed   statuses accepted when the user meets the row's precondition (default {200} for GET,
              any non-5xx for POST). Widen it only when the view has a further rule the table does
              not model (e.g. "only writers"), and say so in `note`.
    kwargs    fixed URL kwargs (e.g. {"field_group": "contact"}); query: GET parameters.
    probe     POST the canary's own name/phone/email (duplicate checks): the answer may only reveal
              what the user may see.
    mutates   the endpoint legitimately changes the canary's owner/unit (transfer): skip that check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GET = ("GET",)
POST = ("POST",)
GET_POST = ("GET", "POST")

ADMIN_NAMESPACE = "admin"
MISSING_PK = 987_654_321


@dataclass(frozen=True)
class Endpoint:
    cls: str
    methods: tuple[str, ...] = GET
    action: str = "view"
    kind: str | None = None
    flag: str | None = None  # "a|b": any of these flags
    target: str | None = None
    kwargs: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    allowed: frozenset | None = None
    probe: bool = False
    mutates: bool = False
    htmx: bool = False
    who: str | None = None  # a named precondition of the test module replacing the class's (see WHO there)
    note: str = ""

    def __hash__(self):
        return hash((self.cls, self.methods, self.action, self.kind, self.flag, self.target))


def public(**kw) -> Endpoint:
    return Endpoint("public", **kw)


def login_only(**kw) -> Endpoint:
    return Endpoint("login_only", **kw)


def role_restricted(flag: str | None = None, **kw) -> Endpoint:
    """`flag` a principal flag, or kind="…" for pages of one record kind (e.g. receivables: payments)."""
    return Endpoint("role_restricted", flag=flag, **kw)


def customer_object(**kw) -> Endpoint:
    return Endpoint("customer_object", **kw)


def related_object(kind: str, **kw) -> Endpoint:
    return Endpoint("related_object", kind=kind, **kw)


def foreign_object(target: str, **kw) -> Endpoint:
    return Endpoint("foreign_object", target=target, **kw)


def statuses(*codes: int) -> frozenset:
    return frozenset(codes)


WRITERS_ONLY = statuses(200, 404)  # GET form pages with a "writers only" rule on top of visibility
POSTED = statuses(200, 302, 400, 404)  # POST endpoints whose outcome depends on the posted data

POLICY: dict[str, Endpoint] = {
    # --- crm: shell
    "home": login_only(note="workbench: counts and my customers"),
    "healthz": public(),
    "login": public(note="POSTs to the login form are the shell's tests (they would trip the lockout here)"),
    "logout": public(methods=POST),
    "password_change": login_only(methods=GET_POST),
    "password_change_done": login_only(),
    "dashboards:index": login_only(note="every figure from visible_to; a unit outside the scope is 404"),
    "dashboards:silent": login_only(),
    "audit:log": role_restricted("can_view_audit"),
    "audit:logins": role_restricted("can_view_audit"),
    "audit:unlock": role_restricted("can_view_audit", methods=POST, allowed=statuses(302, 404), note="superusers only"),
    "set_language": public(methods=POST),
    # --- the admin site: everything else under admin/ is ADMIN_NAMESPACE (staff only)
    "admin:login": public(),
    "admin:logout": public(methods=POST),
    # --- customers
    "customers:list": login_only(query={"q": "金丝雀"}, htmx=True),
    "customers:create": login_only(methods=GET_POST, allowed=statuses(200, 403), note="creators only (403)"),
    "customers:autocomplete": login_only(query={"q": "金丝雀"}),
    "customers:contact_rows": login_only(query={"index": "1"}),
    "customers:relationship_rows": login_only(query={"index": "1"}),
    "customers:detail": customer_object(allowed=statuses(200, 302), note="a merged loser redirects to its survivor"),
    "customers:edit": customer_object(action="change", methods=GET_POST),
    "customers:transfer": customer_object(action="change", flag="can_transfer", methods=GET_POST, mutates=True),
    # --- customers: account teams, public pool, bulk reassignment (docs/teams-and-pool.md)
    "teams:team": customer_object(htmx=True),
    "teams:team_add": customer_object(action="change", flag="can_manage_access", methods=POST, allowed=POSTED),
    "teams:team_candidates": customer_object(
        action="change", flag="can_manage_access", htmx=True, query={"user_search": "rep"}
    ),
    "teams:team_remove": foreign_object("missing", methods=POST),
    "teams:pool": login_only(note="pooled customers of the rep's unit or the manager's change scope only; masked"),
    "teams:pool_claim": customer_object(
        methods=POST, allowed=POSTED, note="404 unless pooled (or just claimed) in the rep's own unit"
    ),
    "teams:pool_assign": customer_object(
        action="change",
        flag="can_transfer",
        methods=GET_POST,
        allowed=statuses(200, 404) | POSTED,
        note="pooled customers only (404 otherwise)",
    ),
    "teams:reassign": role_restricted("can_transfer", methods=GET_POST),
    # --- customers: import, export, personal-data requests
    "customers_io:import-start": role_restricted("can_import", methods=GET_POST),
    "customers_io:import-list": role_restricted("can_import"),
    "customers_io:import-template": role_restricted("can_import", kwargs={"file_format": "csv"}),
    "customers_io:import-detail": foreign_object("missing"),
    "customers_io:import-mapping": foreign_object("missing", methods=GET_POST),
    "customers_io:import-decide": foreign_object("missing", methods=POST),
    "customers_io:import-cancel": foreign_object("missing", methods=POST),
    "customers_io:import-rejected": foreign_object("missing", kwargs={"file_format": "csv"}),
    "customers_io:export": role_restricted("can_export", query={"q": "金丝雀"}),
    "customers_io:privacy": customer_object(
        flag="can_erase|can_export", allowed=statuses(200, 404), note="persons only"
    ),
    "customers_io:privacy-export": customer_object(flag="can_erase|can_export", methods=POST, allowed=POSTED),
    "customers_io:privacy-erase": customer_object(action="change", flag="can_erase", methods=POST, allowed=POSTED),
    # --- sharing
    "sharing:customer_access": customer_object(),
    "sharing:share_create": customer_object(action="change", flag="can_manage_access", methods=POST, allowed=POSTED),
    "sharing:unmask": customer_object(
        methods=POST,
        kwargs={"field_group": "contact"},
        allowed=statuses(200, 404),
        note="404 message without data when no grant and the contact group is masked",
    ),
    "sharing:request_create": customer_object(
        methods=GET_POST,
        allowed=POSTED,
        who="request_target",
        note="also for customers the user cannot see: shows number and owning unit only (canary check)",
    ),
    "sharing:share_revoke": foreign_object("share", methods=POST, kwargs={"kind": "user"}),
    "sharing:user_access": foreign_object("user", who="manages_everyone"),
    "sharing:review": role_restricted("can_manage_access"),
    "sharing:requests": login_only(),
    "sharing:request_withdraw": foreign_object("access_request", methods=POST),
    "sharing:inbox": login_only(),
    "sharing:request_decide": foreign_object("access_request", methods=POST),
    "sharing:notifications": login_only(),
    "sharing:notifications_badge": login_only(),
    "sharing:reminder_settings": login_only(methods=GET_POST),
    # --- interactions
    "interactions:followups": login_only(),
    "interactions:followup_done": related_object("activity", methods=POST, allowed=POSTED),
    "interactions:activity_create": customer_object(kind="activity", methods=GET_POST, allowed=WRITERS_ONLY),
    "interactions:activity_edit": related_object("activity", methods=GET_POST, allowed=WRITERS_ONLY),
    "interactions:timeline": customer_object(
        htmx=True, allowed=statuses(200, 404), note="404 also when the roles see no record kind at all"
    ),
    "interactions:opportunity_list": role_restricted(kind="opportunity"),
    "interactions:opportunity_create": customer_object(
        action="change", kind="opportunity", methods=GET_POST, allowed=WRITERS_ONLY
    ),
    "interactions:opportunity_detail": related_object("opportunity"),
    "interactions:opportunity_stage": related_object("opportunity", action="change", methods=POST, allowed=POSTED),
    "interactions:quote_create": related_object("opportunity", action="change", methods=GET_POST, allowed=WRITERS_ONLY),
    "interactions:quote_detail": related_object("quote"),
    "interactions:contract_create": related_object("quote", action="change", methods=GET_POST, allowed=WRITERS_ONLY),
    "interactions:contract_detail": related_object("contract"),
    "interactions:order_create": related_object("contract", action="change", methods=GET_POST, allowed=WRITERS_ONLY),
    "interactions:order_detail": related_object("order"),
    "interactions:shipment_create": related_object("order", action="change", methods=GET_POST, allowed=WRITERS_ONLY),
    "interactions:shipment_detail": related_object("shipment"),
    "interactions:payment_create": customer_object(kind="payment", methods=GET_POST, allowed=WRITERS_ONLY),
    "interactions:payment_detail": related_object("payment"),
    "interactions:payment_paid": related_object("payment", methods=POST, allowed=POSTED),
    "interactions:document_status": related_object(
        "quote", action="change", methods=POST, kwargs={"kind": "quote"}, allowed=POSTED
    ),
    "interactions:receivables": role_restricted(kind="payment"),
    "interactions:case_list": role_restricted(kind="service_case"),
    "interactions:case_create": role_restricted(
        kind="service_case", methods=GET_POST, allowed=WRITERS_ONLY, query={"q": "金丝雀"}
    ),
    "interactions:case_detail": related_object("service_case"),
    "interactions:case_advance": related_object("service_case", methods=POST, allowed=POSTED),
    "interactions:case_close": related_object("service_case", methods=GET_POST, allowed=WRITERS_ONLY | POSTED),
    "interactions:case_reopen": related_object("service_case", methods=POST, allowed=POSTED),
    # campaigns: pages of one campaign are 404 unless it is visible (campaigns_visible_to); their rows and
    # figures cover only customers the viewer may see (interactions/tests/test_campaign_views.py).
    "interactions:campaign_list": login_only(),
    "interactions:campaign_create": login_only(
        methods=GET_POST, allowed=statuses(200, 302, 400, 403), note="campaign creators only (403)"
    ),
    "interactions:campaign_detail": foreign_object("missing"),
    "interactions:participation_import": foreign_object("missing", methods=POST),
    "interactions:participation_update": foreign_object("missing", methods=POST),
    # --- dedup
    "dedup:check": login_only(methods=POST, probe=True, note="duplicate warning: invisible hits offer a request only"),
    "dedup:lookup": login_only(),
    "dedup:queue": role_restricted("can_merge"),
    "dedup:pair": foreign_object("missing"),
    "dedup:merge": foreign_object("missing", methods=POST),
    "dedup:pair_decide": foreign_object("missing", methods=POST),
    "dedup:merges": role_restricted("can_merge"),
    "dedup:journal": foreign_object("missing"),
    "dedup:unmerge": foreign_object("missing", methods=POST),
    "dedup:jobs": role_restricted("can_merge", methods=GET_POST),
    "dedup:job_progress": foreign_object("missing"),
    "dedup:job_cancel": foreign_object("missing", methods=POST),
    "dedup:job_resume": foreign_object("missing", methods=POST),
    "dedup:quality": login_only(),
}
