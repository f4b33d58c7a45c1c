"""T1, the authorization matrix: every persona × every URL pattern × every relation to a canary customer.

For each persona, one canary customer per relation (owned, user share, group share, unit scope,
not shared, expired share, revoked a second ago, merged loser, and two companies: shared and not
shared) carries unique canary strings in every personal-data field (phones, email, address, WeChat,
ID number, birth date, credit code, registered address) and in one related record of each kind
(activity notes, opportunity name, document notes, case description). Then every URL pattern of the
project (tests/matrix_policy.py classifies each; an unclassified one fails) is requested — GET, and
POST with forged fields for POST-able endpoints — and:

- anonymous → redirect to the login page;
- not allowed → 404 (403 also for pages behind a role flag), none of the canary's strings in body,
  headers or redirect, and a refused POST changes no rows;
- allowed → the row's statuses (200 for pages), and in every response a canary the user cannot see
  shows none of its strings, a visible one shows masked groups masked (no clear value), and records
  of kinds the user's roles do not see show nothing;
- the forged fields (owner, org unit, version, status …) change nothing.

Whether the persona may see a canary is taken from `visible_to` (proved against a reference model
in sharing/tests/test_reference_model.py) and cross-checked here against what the relation implies,
so a share that outlives its expiry or revocation fails the matrix.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from tests.matrix_policy import ADMIN_NAMESPACE, MISSING_PK, POLICY, Endpoint

PERSONAS = [
    "anonymous",
    "outsider",
    "shenzhen_sales_rep",
    "guangdong_sales_manager",
    "beijing_sales_manager",
    "dealer_user",
    "service_agent",
    "finance_clerk",
    "hq_executive",
    "marketing_user",  # sees every customer, contacts masked; runs campaigns (issue #11)
]
SHARED = ("owned", "user_share", "group_share", "company_shared")
UNSHARED = ("not_shared", "expired_share", "revoked", "merged_loser", "company_not_shared")
RELATIONS = (*SHARED, "unit_scope", *UNSHARED)
RELATED_KINDS = ("activity", "opportunity", "quote", "contract", "order", "shipment", "payment", "service_case")
FORGED = {
    "owner": "{me}",
    "owner_id": "{me}",
    "org_unit": "{unit}",
    "org_unit_id": "{unit}",
    "version": "999",
    "status": "erased",
    "merged_into": "{me}",
    "created_by": "{me}",
    "user": "{me}",
    "requester": "{me}",
    "granted_by": "{me}",
    "is_superuser": "on",
}


# --- URL patterns


@dataclass(frozen=True)
class Route:
    name: str  # namespaced name, or the route itself for unnamed patterns
    route: str
    kwarg_names: tuple[str, ...]
    admin: bool


def all_routes() -> list[Route]:
    routes = []

    def walk(patterns, prefix="", namespaces=()):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                ns = (*namespaces, pattern.namespace) if pattern.namespace else namespaces
                walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                name = ":".join((*namespaces, pattern.name)) if pattern.name else route
                kwargs = tuple(pattern.pattern.regex.groupindex)
                routes.append(Route(name, route, kwargs, bool(namespaces) and namespaces[0] == ADMIN_NAMESPACE))

    walk(get_resolver().url_patterns)
    return routes


def rule_for(route: Route) -> Endpoint | None:
    if route.name in POLICY:
        return POLICY[route.name]
    return Endpoint("admin") if route.admin else None


def test_every_url_pattern_is_classified():
    unclassified = [r for r in all_routes() if rule_for(r) is None]
    assert not unclassified, (
        f"{len(unclassified)} unclassified endpoint(s): "
        + ", ".join(f"{r.name} ({r.route})" for r in unclassified)
        + ". Add one line per endpoint to tests/matrix_policy.py POLICY, e.g. "
        '"app:name": customer_object(methods=GET_POST) — see the classes in its docstring.'
    )


def test_the_policy_has_no_rows_for_endpoints_that_no_longer_exist():
    names = {r.name for r in all_routes()}
    stale = sorted(set(POLICY) - names)
    assert not stale, f"tests/matrix_policy.py classifies endpoints that do not exist: {stale}"


# --- the canary world


@dataclass
class Canary:
    relation: str
    customer: object
    strings: dict[str, list[str]] = field(default_factory=dict)  # "name"/"contact"/"identity"/kind → strings
    related: dict[str, int] = field(default_factory=dict)  # kind → pk of the related record


@dataclass
class World:
    persona: object  # a user, or None for anonymous
    canaries: list[Canary]
    other_owner: object
    foreign: dict[str, int]

    def canary(self, relation: str) -> Canary:
        return next(c for c in self.canaries if c.relation == relation)


_tokens = itertools.count(1)


def credit_code(first16: str) -> str:
    from customers.validators import credit_code_check_char

    first17 = ("9" + first16)[:17]
    return first17 + credit_code_check_char(first17)


def plant_person(*, owner, unit, token: str, index: int):
    from customers.models import ContactPoint
    from customers.tests.factories import ContactPointFactory, PersonFactory

    birth = date(1930, 1, 1) + timedelta(days=97 * index + 13)
    customer = PersonFactory(
        owner=owner,
        org_unit=unit,
        name=f"金丝雀{token}",
        profile__id_number=f"110101{token}1234",
        profile__birth_date=birth,
    )
    phone = f"139{token}"
    ContactPointFactory(customer=customer, kind=ContactPoint.Kind.MOBILE, value=phone)
    ContactPointFactory(
        customer=customer, kind=ContactPoint.Kind.EMAIL, value=f"cnry{token}@example.com", is_primary=False
    )
    ContactPointFactory(
        customer=customer,
        kind=ContactPoint.Kind.ADDRESS,
        value=f"浙江省杭州市西湖区金丝雀路{token}号",
        is_primary=False,
    )
    ContactPointFactory(customer=customer, kind=ContactPoint.Kind.WECHAT, value=f"wx{token}", is_primary=False)
    strings = {
        "name": [f"金丝雀{token}"],
        "contact": [
            phone,
            f"{phone[:3]} {phone[3:7]} {phone[7:]}",
            f"{phone[:3]}-{phone[3:7]}-{phone[7:]}",
            f"cnry{token}@example.com",
            f"金丝雀路{token}号",
            f"wx{token}",
        ],
        "identity": [
            f"110101{token}1234",
            birth.isoformat(),
            f"{birth.year}年{birth.month}月{birth.day}日",
            birth.strftime("%Y/%m/%d"),
        ],
    }
    return customer, strings


def plant_company(*, owner, unit, token: str):
    from customers.tests.factories import CustomerFactory

    code = credit_code(f"1330100{token}M")
    customer = CustomerFactory(
        owner=owner,
        org_unit=unit,
        name=f"金丝雀{token}有限公司",
        profile__credit_code=code,
        profile__registered_address=f"浙江省杭州市滨江区金丝雀大道{token}号",
    )
    return customer, {"name": [f"金丝雀{token}有限公司"], "contact": [f"金丝雀大道{token}号"], "identity": [code]}


def plant_related(customer, *, owner, token: str) -> tuple[dict[str, int], dict[str, list[str]]]:
    from interactions.tests import factories as f

    activity = f.ActivityFactory(customer=customer, user=owner, created_by=owner, notes=f"活动备注{token}")
    opportunity = f.OpportunityFactory(customer=customer, owner=owner, created_by=owner, name=f"商机{token}")
    quote = f.QuoteFactory(opportunity=opportunity, note=f"报价备注{token}")
    contract = f.ContractFactory(quote=quote, note=f"合同备注{token}")
    order = f.OrderFactory(contract=contract, note=f"订单备注{token}")
    shipment = f.ShipmentFactory(order=order, note=f"发货备注{token}")
    payment = f.PaymentFactory(contract=contract, note=f"回款备注{token}")
    case = f.ServiceCaseFactory(customer=customer, description=f"投诉描述{token}")
    records = {
        "activity": (activity, f"活动备注{token}"),
        "opportunity": (opportunity, f"商机{token}"),
        "quote": (quote, f"报价备注{token}"),
        "contract": (contract, f"合同备注{token}"),
        "order": (order, f"订单备注{token}"),
        "shipment": (shipment, f"发货备注{token}"),
        "payment": (payment, f"回款备注{token}"),
        "service_case": (case, f"投诉描述{token}"),
    }
    return {k: r.pk for k, (r, _s) in records.items()}, {k: [s] for k, (_r, s) in records.items()}


def build_world(persona, org, client) -> World:
    from crm.demo import role_group
    from sharing.models import Action, Membership
    from sharing.services import access_request_create, share_grant, share_revoke

    User = get_user_model()
    other_owner = User.objects.create_user("zj_owner", first_name="其他", last_name="张")
    other_owner.groups.add(role_group("sales_rep"))
    Membership.objects.create(user=other_owner, unit=org["ZJ-HZ"])
    zj_manager = User.objects.create_user("zj_manager")
    zj_manager.groups.add(role_group("sales_manager"))
    Membership.objects.create(user=zj_manager, unit=org["ZJ"], is_manager=True)

    far = org["ZJ-HZ"]
    home = getattr(getattr(persona, "membership", None), "unit", None) if persona else None
    team = None
    if persona is not None:
        team = Group.objects.create(name=f"matrix-team-{persona.username}")
        persona.groups.add(team)

    canaries = []
    for index, relation in enumerate(RELATIONS):
        token = f"{next(_tokens):04d}{index:02d}{persona.pk % 100 if persona else 0:02d}"
        owner, unit = other_owner, far
        if relation == "owned" and persona is not None:
            owner, unit = persona, home or far
        elif relation == "unit_scope":
            unit = home or far
        if relation.startswith("company"):
            customer, strings = plant_company(owner=owner, unit=unit, token=token)
        else:
            customer, strings = plant_person(owner=owner, unit=unit, token=token, index=index)
        related, related_strings = plant_related(customer, owner=other_owner, token=token)
        strings.update(related_strings)
        canaries.append(Canary(relation, customer, strings, related))

    by = {c.relation: c for c in canaries}
    if persona is not None:
        soon = timezone.now() + timedelta(days=7)
        for relation in ("user_share", "company_shared"):
            share_grant(
                customer=by[relation].customer, action=Action.VIEW, user=persona, granted_by=zj_manager, expires_at=soon
            )
        share_grant(customer=by["group_share"].customer, action=Action.VIEW, group=team, granted_by=zj_manager)
        expired = share_grant(
            customer=by["expired_share"].customer,
            action=Action.VIEW,
            user=persona,
            granted_by=zj_manager,
            expires_at=soon,
        )
        type(expired).objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        revoked = share_grant(
            customer=by["revoked"].customer, action=Action.CHANGE, user=persona, granted_by=zj_manager
        )
        # The persona uses the share once (warming anything a session might keep), then loses it.
        client.force_login(persona)
        client.get(reverse("sharing:customer_access", args=[by["revoked"].customer.pk]))
        share_revoke(share=revoked, revoked_by=zj_manager, reason="matrix")

    from customers.tests.factories import CustomerFactory

    survivor = CustomerFactory(owner=persona or other_owner, org_unit=home or far, name="存续客户")
    loser = by["merged_loser"].customer
    type(loser).objects.filter(pk=loser.pk).update(status="merged", merged_into=survivor)
    loser.refresh_from_db()

    not_shared = by["not_shared"].customer
    foreign_share = share_grant(customer=not_shared, action=Action.VIEW, user=zj_manager, granted_by=other_owner)
    foreign_request = access_request_create(
        requester=other_owner, customer=not_shared, kind="view", reason="matrix", duration_days=1
    )
    foreign = {
        "share": foreign_share.pk,
        "access_request": foreign_request.pk,
        "user": other_owner.pk,
        "missing": MISSING_PK,
    }
    return World(persona=persona, canaries=canaries, other_owner=other_owner, foreign=foreign)


# --- what the persona may do (oracles)


@dataclass
class Oracle:
    principal: object
    visible: dict[int, bool]
    changeable: dict[int, bool]
    clear: dict[int, set[str]]  # customer pk → field groups shown in clear
    approvable: bool

    def may_flag(self, flag: str | None) -> bool:
        return flag is None or any(self.principal.may(f) for f in flag.split("|"))

    def sees_kind(self, kind: str | None) -> bool:
        return kind is None or self.principal.sees_kind(kind)


def build_oracle(world: World) -> Oracle:
    from customers.models import Customer
    from sharing.presenters import CustomerPresenter
    from sharing.principal import get_principal
    from sharing.services import approvers_for

    persona = world.persona
    principal = get_principal(persona)
    pks = [c.customer.pk for c in world.canaries]
    if persona is None:
        return Oracle(principal, dict.fromkeys(pks, False), dict.fromkeys(pks, False), {}, False)
    visible = set(Customer.objects.visible_to(persona).filter(pk__in=pks).values_list("pk", flat=True))
    changeable = set(Customer.objects.visible_to(persona, "change").filter(pk__in=pks).values_list("pk", flat=True))
    clear = {}
    for canary in world.canaries:
        presenter = CustomerPresenter(canary.customer, persona)
        clear[canary.customer.pk] = {g for g in ("contact", "identity") if presenter.clear(g)}
    return Oracle(
        principal,
        {pk: pk in visible for pk in pks},
        {pk: pk in changeable for pk in pks},
        clear,
        approvers_for(persona).exists(),
    )


def check_oracle_against_relations(world: World, oracle: Oracle) -> list[str]:
    """visible_to must agree with what each relation means (0 stale access after expiry or revocation)."""
    if world.persona is None:
        return []
    problems = []
    scope = oracle.principal.scope("view")
    home = getattr(getattr(world.persona, "membership", None), "unit_id", None)
    for canary in world.canaries:
        seen = oracle.visible[canary.customer.pk]
        if canary.relation in SHARED:
            expected = True
        elif canary.relation == "unit_scope":
            expected = scope.sees_all or (home is not None and home in scope.unit_ids)
        else:
            expected = scope.sees_all
        if seen != expected:
            problems.append(f"visible_to says {seen} for relation {canary.relation}, the relation implies {expected}")
    return problems


# --- preconditions


def _request_target(world: World, oracle: Oracle, canary: Canary | None) -> bool:
    customer = canary.customer
    if customer.status in ("merged", "erased"):
        return False
    return oracle.visible[customer.pk] or oracle.approvable


def _manages_everyone(world: World, oracle: Oracle, canary: Canary | None) -> bool:
    return oracle.principal.may("can_manage_access") and oracle.principal.scope("view").sees_all


WHO = {"request_target": _request_target, "manages_everyone": _manages_everyone}


def precondition(rule: Endpoint, world: World, oracle: Oracle, canary: Canary | None) -> bool:
    if world.persona is None:
        return rule.cls == "public"
    if rule.who:
        return WHO[rule.who](world, oracle, canary)
    if rule.cls in ("public", "login_only"):
        return True
    if rule.cls == "role_restricted":
        return oracle.may_flag(rule.flag) and oracle.sees_kind(rule.kind)
    if rule.cls in ("customer_object", "related_object"):
        pk = canary.customer.pk
        seen = oracle.changeable[pk] if rule.action == "change" else oracle.visible[pk]
        return seen and oracle.sees_kind(rule.kind) and oracle.may_flag(rule.flag)
    return False  # foreign_object, admin


# --- requests and checks


def fill_kwargs(route: Route, rule: Endpoint, world: World, canary: Canary | None) -> dict:
    kwargs = {}
    for name in route.kwarg_names:
        if name in rule.kwargs:
            kwargs[name] = rule.kwargs[name]
        elif rule.cls == "customer_object" and name in ("pk", "customer_pk"):
            kwargs[name] = canary.customer.pk
        elif rule.cls == "related_object" and name == "pk":
            kwargs[name] = canary.related[rule.kind]
        elif rule.cls == "foreign_object" and name == "pk":
            kwargs[name] = world.foreign[rule.target]
        elif rule.cls == "admin" and name == "object_id":
            kwargs[name] = str(world.canary("not_shared").customer.pk)
        elif rule.cls == "admin" and name == "app_label":
            kwargs[name] = "customers"
        elif rule.cls == "admin" and name == "content_type_id":
            from django.contrib.contenttypes.models import ContentType

            from customers.models import Customer

            kwargs[name] = str(ContentType.objects.get_for_model(Customer).pk)
        elif rule.cls == "admin":
            kwargs[name] = "1"
        else:
            raise AssertionError(
                f"{route.name}: cannot fill URL kwarg {name!r}; give it in tests/matrix_policy.py, "
                f"e.g. kwargs={{{name!r}: ...}}"
            )
    return kwargs


def url_for(route: Route, kwargs: dict) -> str:
    if "/" not in route.name:  # named patterns reverse; unnamed ones are built from the route
        return reverse(route.name, kwargs=kwargs)
    path = route.route
    for key, value in kwargs.items():
        path = re.sub(r"<(?:\w+:)?" + key + ">", str(value), path)
    return "/" + path.lstrip("^").rstrip("$")


def response_text(response) -> str:
    body = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    headers = "\n".join(f"{k}: {v}" for k, v in response.items())
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    if body[:2] == b"PK":  # XLSX/ZIP: look inside
        import io
        import zipfile

        try:
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                text += "\n".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
        except zipfile.BadZipFile:
            pass
    return headers + "\n" + text


def forbidden_strings(world: World, oracle: Oracle) -> list[tuple[str, str]]:
    """(string, why) pairs that must appear in no response for this persona."""
    out = []
    for canary in world.canaries:
        pk = canary.customer.pk
        if not oracle.visible[pk]:
            for group, strings in canary.strings.items():
                out += [(s, f"{canary.relation} canary is not visible ({group})") for s in strings]
            continue
        for group in ("contact", "identity"):
            if group not in oracle.clear[pk]:
                out += [
                    (s, f"{canary.relation} canary's {group} must be masked or hidden") for s in canary.strings[group]
                ]
        for kind in RELATED_KINDS:
            if not oracle.sees_kind(kind):
                out += [
                    (s, f"{canary.relation} canary's {kind} is a kind the roles do not see")
                    for s in canary.strings[kind]
                ]
    return out


def table_snapshot() -> tuple:
    """Row counts of every table of our apps, plus the customers' versions and last update: one query."""
    tables = [
        model._meta.db_table
        for label in ("customers", "sharing", "interactions", "dedup")
        for model in apps.get_app_config(label).get_models()
        if not model._meta.proxy and model._meta.managed
    ]
    q = connection.ops.quote_name
    # Table names come from the models, not from input.
    parts = [f"(SELECT count(*) FROM {q(t)})" for t in tables]  # noqa: S608
    parts += [f"(SELECT coalesce(sum(version), 0) FROM {q('customers_customer')})"]  # noqa: S608
    parts += [f"(SELECT max(updated_at) FROM {q('customers_customer')})"]  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts))
        return tuple(cursor.fetchone())


def canary_invariants(world: World) -> dict:
    from customers.models import Customer

    return {
        c["pk"]: c
        for c in Customer.objects.filter(pk__in=[x.customer.pk for x in world.canaries]).values(
            "pk", "owner_id", "org_unit_id", "status", "merged_into_id"
        )
    }


def forged_data(world: World, canary: Canary | None) -> dict:
    me = world.persona.pk if world.persona else 1
    unit = world.canary("not_shared").customer.org_unit_id
    data = {k: v.format(me=me, unit=unit) for k, v in FORGED.items()}
    if canary is not None:
        data["customer"] = str(canary.customer.pk)
    return data


def probe_data(canary: Canary) -> dict:
    phone = canary.strings["contact"][0]
    return {"kind": canary.customer.kind, "name": canary.strings["name"][0], "mobile": phone, "phone": phone}


@dataclass
class Run:
    world: World
    oracle: Oracle
    client: object
    forbidden: list[tuple[str, str]]
    problems: list[str] = field(default_factory=list)
    requests: int = 0

    def fail(self, message: str):
        self.problems.append(message)

    def leaks(self, label: str, response):
        text = response_text(response)
        for string, why in self.forbidden:
            if string in text:
                self.fail(f"{label}: LEAK of {string!r} ({why})")


def persona_client(client, persona):
    if persona is not None:
        client.force_login(persona)
    else:
        client.logout()
    return client


def check_anonymous(run: Run, route: Route, rule: Endpoint, url: str, method: str, response):
    if rule.cls == "public":
        if response.status_code >= 500:
            run.fail(f"{method} {url} [{route.name}] anonymous: {response.status_code}")
        return
    login = reverse("admin:login") if rule.cls == "admin" else reverse("login")
    if response.status_code != 302 or not response["Location"].startswith(login):
        run.fail(f"{method} {url} [{route.name}] anonymous: expected a redirect to {login}, got {response.status_code}")


def expected_denial(rule: Endpoint) -> set[int]:
    return {403, 404} if rule.cls == "role_restricted" else {404}


def request_once(run: Run, route: Route, rule: Endpoint, canary: Canary | None):
    world, oracle = run.world, run.oracle
    persona = world.persona
    kwargs = fill_kwargs(route, rule, world, canary)
    url = url_for(route, kwargs)
    allowed = precondition(rule, world, oracle, canary)
    label_target = f" canary={canary.relation}" if canary else ""
    methods = rule.methods if rule.cls != "admin" else ("GET",)
    for method in ("GET", "POST"):
        serves = method in methods
        if method == "POST" and not serves:
            continue
        label = f"{method} {url} [{route.name}]{label_target} as {persona.username if persona else 'anonymous'}"
        headers = {"HTTP_HX_REQUEST": "true"} if (rule.htmx and method == "GET") else {}
        if method == "GET":
            response = run.client.get(url, rule.query, **headers)
        else:
            data = probe_data(canary) if (rule.probe and canary) else {}
            data.update(forged_data(world, canary))
            before = table_snapshot() if not allowed else None
            invariants = canary_invariants(world)
            response = run.client.post(url, data, **headers)
            if rule.cls == "public" and persona is not None:
                run.client.force_login(persona)  # logout/set_language may end or change the session
        run.requests += 1
        run.leaks(label, response)
        status = response.status_code
        if status >= 500:
            run.fail(f"{label}: server error {status}")
            continue
        if persona is None:
            check_anonymous(run, route, rule, url, method, response)
            continue
        if rule.cls == "admin":
            if status not in (302, 403, 404):
                run.fail(f"{label}: expected the admin to refuse a non-staff user, got {status}")
            continue
        if method == "GET" and not serves and rule.cls != "public":
            if status not in (404, 405):
                run.fail(f"{label}: POST-only endpoint answered GET with {status}")
            continue
        if not allowed:
            if status not in expected_denial(rule):
                run.fail(f"{label}: expected {sorted(expected_denial(rule))}, got {status}")
            if method == "POST" and table_snapshot() != before:
                run.fail(f"{label}: a refused POST changed rows")
            continue
        if method == "GET":
            accepted = set(rule.allowed) if rule.allowed is not None else {200}
            if rule.cls == "public":
                accepted = set(range(200, 500))
            if canary is not None and canary.relation == "merged_loser":
                accepted |= {302, 404}
            if status not in accepted:
                run.fail(f"{label}: allowed, expected {sorted(accepted)}, got {status}")
        else:
            after = canary_invariants(world)
            if not rule.mutates and after != invariants:
                run.fail(f"{label}: forged fields changed a canary: {invariants} → {after}")


def targets_for(rule: Endpoint, world: World) -> list[Canary | None]:
    if world.persona is None:
        return [world.canary("not_shared") if rule.cls in ("customer_object", "related_object") else None]
    if rule.cls in ("customer_object", "related_object"):
        return world.canaries
    if rule.probe:
        return world.canaries
    return [None]


@pytest.mark.slow
@pytest.mark.parametrize("persona_name", PERSONAS)
def test_the_authorization_matrix_holds(request, client, org, persona_name, settings):
    settings.AXES_ENABLED = False
    persona = None if persona_name == "anonymous" else request.getfixturevalue(persona_name)
    if persona_name == "shenzhen_sales_rep":
        request.getfixturevalue("guangdong_sales_manager")  # the rep's approver exists
    world = build_world(persona, org, client)
    oracle = build_oracle(world)
    run = Run(world, oracle, persona_client(client, persona), forbidden_strings(world, oracle))
    for problem in check_oracle_against_relations(world, oracle):
        run.fail(problem)

    routes = [r for r in all_routes() if rule_for(r) is not None]
    for route in routes:
        rule = rule_for(route)
        for canary in targets_for(rule, world):
            try:
                request_once(run, route, rule, canary)
            except Exception as exc:  # noqa: BLE001  (report every endpoint, not just the first broken one)
                run.fail(f"{route.name}{' canary=' + canary.relation if canary else ''}: {type(exc).__name__}: {exc}")

    assert run.requests > len(routes)
    assert not run.problems, f"{len(run.problems)} problem(s) in {run.requests} requests:\n" + "\n".join(
        run.problems[:80]
    )
