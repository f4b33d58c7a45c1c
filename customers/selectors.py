"""Reads shaped for the customer pages. Every one starts from `Customer.objects.visible_to(user, …)`.

Values that may be masked reach templates only through `CustomerPresenter` (sharing/presenters.py);
rows of related records (relationships) are filtered with `visibility_q` on the other side.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from importlib import import_module

from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import Prefetch, Q, prefetch_related_objects
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _

from crm.compiled import CompiledQuery, Slot, slot_filter
from crm.widgets import options_markup, user_option_rows
from customers.field_groups import CONTACT, IDENTITY
from customers.models import CompanyProfile, ContactPoint, Customer, CustomerRole, PersonProfile, Relationship, Tag
from sharing.masking import mask_generic
from sharing.models import Action, FieldLevel, OrgUnit
from sharing.presenters import CustomerPresenter, unmask_grants_for
from sharing.principal import (
    current_version,
    get_principal,
    may_access_customer,
    remember_loaded_customer,
    row_proves_access,
    shared_cache_key,
    shared_cache_seconds,
    shared_version_changed,
    visibility_q,
)

PAGE_SIZE = 25
AUTOCOMPLETE_LIMIT = 10
HISTORY_LIMIT = 50
MERGE_CHAIN_LIMIT = 5


# --- single customers (404 when hidden or missing: the two answers are identical)


def customer_for_view(user, pk) -> Customer:
    """The customer if `user` may see it, else 404: `visible_to(user).get(pk=pk)`, answered faster.

    The row is read by a statement compiled once (`_CUSTOMER_ROW`), and the row itself proves
    access when it can (scope "all", owner, unit in scope: `row_proves_access`); otherwise
    `may_access_customer` asks the predicate. Either way the customer is then remembered as loaded
    through the predicate (`remember_loaded_customer`), so a later "may change" is free when the
    row proves that too (the activity form and the timeline ask it)."""
    return _visible_or_404(user, pk, _CUSTOMER_ROW)


def _pk_or_404(pk) -> int:
    try:
        return int(pk)
    except (TypeError, ValueError):
        raise Http404 from None


def _visible_or_404(user, pk, query: CompiledQuery) -> Customer:
    principal = get_principal(user)
    pk = _pk_or_404(pk)
    rows = query.models(pk=pk) if principal.is_authenticated else []
    customer = rows[0] if rows else None
    if customer is None or not (
        row_proves_access(principal, customer, Action.VIEW) or may_access_customer(user, customer.pk, Action.VIEW)
    ):
        raise Http404
    remember_loaded_customer(user, customer)
    return customer


def _customer_by_pk():
    return Customer.objects.filter(slot_filter(f'"{Customer._meta.db_table}"."id" = %s', Slot("pk")))


_CUSTOMER_ROW = CompiledQuery(Customer, _customer_by_pk)


def customer_for_change(user, pk) -> Customer:
    queryset = Customer.objects.visible_to(user, action="change").select_related("company", "person")
    return get_object_or_404(queryset.prefetch_related("contact_points", "roles", "tags"), pk=pk)


def customer_for_transfer(user, pk) -> Customer:
    """Only users whose role may transfer, and only customers they may change."""
    if not get_principal(user).may("can_transfer"):
        raise Http404
    return get_object_or_404(
        Customer.objects.visible_to(user, action="change").select_related("owner", "org_unit"), pk=pk
    )


def customer_survivor(user, customer: Customer) -> Customer:
    """Where a merged customer lives on: its survivor (following a merge chain), if the user can see it."""
    current = customer
    for _hop in range(MERGE_CHAIN_LIMIT):
        if current.status != Customer.Status.MERGED or not current.merged_into_id:
            break
        current = get_object_or_404(Customer.objects.visible_to(user), pk=current.merged_into_id)
    if current.pk == customer.pk or current.status == Customer.Status.MERGED:
        raise Http404
    return current


def customer_create_allowed(user) -> bool:
    """Anyone whose role may change some customers may enter new ones (they become the owner)."""
    principal = get_principal(user)
    return principal.is_authenticated and principal.may_create


def customer_presenter_for_new(user, kind: str) -> CustomerPresenter:
    """The presenter of a customer the user is about to create (and will own)."""
    return CustomerPresenter(Customer(kind=kind, owner_id=user.pk), user, unmask_groups=set())


# --- the list


def filter_status_search_kind(queryset, filters: dict):
    """The list's status (current ones unless asked), search and kind filters on `queryset`; the
    list plans (customers/list_plan.py) apply the same to their own row sources."""
    from customers.forms import CustomerFilterForm

    status = filters.get("status")
    if not status:
        queryset = queryset.active()
    elif status != CustomerFilterForm.STATUS_ALL:
        queryset = queryset.filter(status=status)
    if filters.get("q"):
        queryset = queryset.search(filters["q"])
    if filters.get("kind"):
        queryset = queryset.filter(kind=filters["kind"])
    return queryset


def customer_list(user, filters: dict):
    """Visible customers matching the filters, sorted; merged and erased ones only when asked for."""
    from customers.forms import CustomerFilterForm

    queryset = filter_status_search_kind(Customer.objects.visible_to(user, action="view"), filters)
    if filters.get("role"):
        queryset = queryset.filter(roles=filters["role"])
    if filters.get("tag"):
        queryset = queryset.filter(tags=filters["tag"])
    if filters.get("owner"):
        queryset = queryset.filter(owner=filters["owner"])
    if filters.get("org_unit"):
        unit_ids = list(OrgUnit.objects.filter(path__startswith=filters["org_unit"].path).values_list("pk", flat=True))
        queryset = queryset.filter(org_unit_id__in=unit_ids)
    if filters.get("province"):
        queryset = queryset.filter(province__startswith=filters["province"])
    order = CustomerFilterForm.SORTS.get(filters.get("sort") or "-updated", CustomerFilterForm.SORTS["-updated"])
    return queryset.order_by(*order).select_related("owner", "org_unit")


STATUS_BADGES = {
    "active": "badge--success",
    "merged": "badge--info",
    "erased": "badge--danger",
    "inactive": "badge--warning",
}


@dataclass(slots=True)
class CustomerListRow:
    """One row of the customer list, flattened: the template reads plain attributes, no managers.

    The phone comes from the row's presenter, so it is masked (or hidden) as the viewer's policy
    says; everything else is core data every viewer of the row may see.
    """

    pk: int
    number: str
    name: str
    kind_label: str
    status: str
    status_label: str
    status_badge: str
    phone: object  # ShownValue or None
    sees_contact: bool
    role_names: list[str]
    tag_names: list[str]
    owner_label: str
    unit_label: str
    province: str
    city: str
    updated_at: object


PHONE_KINDS = (ContactPoint.Kind.MOBILE, ContactPoint.Kind.LANDLINE)


def _page_with_related(user, page):
    """The page's rows with their related columns, the page chosen first: the visible, filtered and
    sorted customers are cut to the page's ids by themselves, and only those rows are joined to
    their owner and unit. Joined before the cut, PostgreSQL joined every matching row (20,659
    for the big-share user, 810 for a rep) before sorting them.

    When the list's plan already chose the page's ids (`page_ids` on the queryset,
    customers.list_plan), the rows come from one statement compiled once per sort order
    (`_page_rows_query`): building and compiling this query cost 1.2 ms of CPU a page, running it
    0.3 ms."""
    from django.utils import timezone

    page_ids = getattr(page, "page_ids", None)
    if page_ids is not None:
        ids, order = page_ids
        return _page_rows_query(tuple(order)).models(ids=list(ids), user=user.pk, now=timezone.now())
    order = page.query.order_by
    if page.query.annotations or not all(isinstance(field, str) for field in order):
        return page.annotate(**_related_columns(user.pk, timezone.now()))  # an order the outer query could not repeat
    rows = Customer.objects.filter(pk__in=page.values("pk")).select_related("owner", "org_unit")
    return rows.order_by(*order).annotate(**_related_columns(user.pk, timezone.now()))


_PAGE_ROWS: dict[tuple, CompiledQuery] = {}


def _page_rows_query(order: tuple) -> CompiledQuery:
    """The rows of given ids, joined to owner and unit, with the related columns, in `order`."""
    query = _PAGE_ROWS.get(order)
    if query is None:

        def build():
            table = Customer._meta.db_table
            rows = Customer.objects.filter(slot_filter(f'"{table}"."id" = ANY(%s)', Slot("ids")))
            rows = rows.select_related("owner", "org_unit").order_by(*order)
            return rows.annotate(**_related_columns(Slot("user"), Slot("now")))

        query = CompiledQuery(Customer, build)
        if len(_PAGE_ROWS) < 32:  # a handful of orders exist (CustomerFilterForm.SORTS, the share plan's)
            query = _PAGE_ROWS.setdefault(order, query)
    return query


def _related_columns(user_id, now) -> dict:
    """PostgreSQL: the page query itself brings each row's primary phone, role and tag names and
    the viewer's live unmask grants (correlated subqueries, evaluated for the page's rows only,
    after the sort and limit). Four queries less per list page (docs/performance.md, finding 6).
    Raw SQL because compiling four ORM subqueries cost more CPU than running them."""
    from django.db.models.expressions import RawSQL

    from sharing.models import UnmaskGrant

    # Table names come from our models' meta, values are parameters.
    customer = Customer._meta.db_table
    contact = ContactPoint._meta.db_table
    roles, role = Customer.roles.through._meta.db_table, CustomerRole._meta.db_table
    tags, tag = Customer.tags.through._meta.db_table, Tag._meta.db_table
    grants = UnmaskGrant._meta.db_table
    phone_sql = (
        f"SELECT ARRAY[cp.value, cp.kind] FROM {contact} cp WHERE cp.customer_id = {customer}.id"  # noqa: S608
        " AND cp.kind IN (%s, %s) ORDER BY cp.is_primary DESC, cp.kind, cp.id LIMIT 1"
    )
    roles_sql = (
        f"ARRAY(SELECT r.name FROM {roles} cr JOIN {role} r ON r.id = cr.customerrole_id"  # noqa: S608
        f" WHERE cr.customer_id = {customer}.id ORDER BY r.code)"
    )
    tags_sql = (
        f"ARRAY(SELECT t.name FROM {tags} ct JOIN {tag} t ON t.id = ct.tag_id"  # noqa: S608
        f" WHERE ct.customer_id = {customer}.id ORDER BY t.name)"
    )
    unmask_sql = (
        f"ARRAY(SELECT g.field_group FROM {grants} g WHERE g.customer_id = {customer}.id"  # noqa: S608
        " AND g.user_id = %s AND (g.expires_at IS NULL OR g.expires_at > %s))"
    )
    return {
        "row_phone": RawSQL(phone_sql, PHONE_KINDS),  # noqa: S611
        "row_role_names": RawSQL(roles_sql, ()),  # noqa: S611
        "row_tag_names": RawSQL(tags_sql, ()),  # noqa: S611
        "row_unmask": RawSQL(unmask_sql, (user_id, now)),  # noqa: S611
    }


def customer_rows(user, customers) -> list[CustomerListRow]:
    """Rows for one page of the list: phones, roles and tags in the page query (PostgreSQL) or in
    three more queries (SQLite), whatever the page size.

    Python time of the list was the cost for narrow scopes (docs/performance.md finding 5): per-row
    related managers for roles and tags and attribute lookups through the presenter. Roles and tags
    come as plain names; the presenter is asked once per row for the phone.
    """
    from collections import defaultdict

    from django.db import connection
    from django.db.models import QuerySet

    annotated = (
        connection.vendor == "postgresql"
        and isinstance(customers, QuerySet)
        and customers._result_cache is None
        and getattr(user, "is_authenticated", False)
    )
    if annotated:
        customers = list(_page_with_related(user, customers))
        role_names = {c.pk: [str(_(name)) for name in c.row_role_names] for c in customers}
        tag_names = {c.pk: c.row_tag_names for c in customers}
        grants = {c.pk: set(c.row_unmask) for c in customers}
        for customer in customers:
            # The presenter reads contact points from the prefetch cache: give it the one phone
            # the list shows (the same one `primary_phone` would pick from all of them).
            phones = []
            if customer.row_phone:
                value, kind = customer.row_phone
                phones.append(ContactPoint(customer_id=customer.pk, kind=kind, value=value))
            customer._prefetched_objects_cache = {"contact_points": phones}
    else:
        customers = list(customers)
        ids = [c.pk for c in customers]
        phones = ContactPoint.objects.filter(kind__in=PHONE_KINDS)
        prefetch_related_objects(customers, Prefetch("contact_points", queryset=phones))
        role_names = defaultdict(list)
        for customer_id, name in (
            Customer.roles.through.objects.filter(customer_id__in=ids)
            .order_by("customerrole__code")
            .values_list("customer_id", "customerrole__name")
        ):
            role_names[customer_id].append(str(_(name)))
        tag_names = defaultdict(list)
        for customer_id, name in (
            Customer.tags.through.objects.filter(customer_id__in=ids)
            .order_by("tag__name")
            .values_list("customer_id", "tag__name")
        ):
            tag_names[customer_id].append(name)
        grants = unmask_grants_for(user, ids)
    # Labels once per page, not through get_FOO_display per row (it rebuilds the choices each call).
    kind_labels = {value: str(label) for value, label in Customer.Kind.choices}
    status_labels = {value: str(label) for value, label in Customer.Status.choices}
    rows = []
    for customer in customers:
        presenter = CustomerPresenter(customer, user, unmask_groups=grants.get(customer.pk, set()))
        owner = customer.owner
        rows.append(
            CustomerListRow(
                pk=customer.pk,
                number=customer.number,
                name=customer.name,
                kind_label=kind_labels.get(customer.kind, customer.kind),
                status=customer.status,
                status_label=status_labels.get(customer.status, customer.status),
                status_badge=STATUS_BADGES.get(customer.status, ""),
                phone=presenter.primary_phone(),
                sees_contact=presenter.sees(CONTACT),
                role_names=role_names.get(customer.pk, []),
                tag_names=tag_names.get(customer.pk, []),
                owner_label=(owner.get_full_name() or owner.username) if owner else "",
                unit_label=str(customer.org_unit) if customer.org_unit_id else "",
                province=customer.province,
                city=customer.city,
                updated_at=customer.updated_at,
            )
        )
    return rows


def _scope_users_and_units(user, action: str):
    principal = get_principal(user)
    scope = principal.scope(action)
    users = (
        get_user_model()
        .objects.filter(is_active=True, membership__isnull=False)
        .select_related("membership__unit")
        .order_by("membership__unit__path", "username")
    )
    units = OrgUnit.objects.filter(is_active=True).order_by("path")
    if not scope.sees_all:
        users = users.filter(membership__unit_id__in=sorted(scope.unit_ids))
        units = units.filter(pk__in=sorted(scope.unit_ids))
    return users, units


def customer_filter_choices(user):
    """Owners and units offered as list filters: those in the user's view scope."""
    users, units = _scope_users_and_units(user, "view")
    if not get_principal(user).scope("view").sees_all:
        users = users | get_user_model().objects.filter(pk=user.pk)
    return users.distinct(), units


def filter_options_markup(owners, units) -> dict[str, str]:
    """The `<option>` markup of the list's owner, unit, role and tag filters (crm.widgets): 4 queries."""
    roles = CustomerRole.objects.order_by("code").values_list("pk", "name")
    return {
        "owner": options_markup((pk, name) for pk, name, _username, _unit in user_option_rows(owners)),
        "org_unit": options_markup(units.values_list("pk", "name")),
        "role": options_markup((pk, str(_(name))) for pk, name in roles),
        "tag": options_markup(Tag.objects.order_by("name").values_list("pk", "name")),
    }


FILTER_OPTIONS_VERSION = "filter-options-version"


def directory_cached(name: str, parts: tuple, build):
    """`build()` through the shared cache, for what is made of the staff directory: users, their
    units, tags and customer roles (filter and picker options).

    An entry is valid for its sharing generation (memberships, roles, grants, the org tree) and the
    filter-options version, which `filter_options_changed` bumps when a user, tag or customer role
    is saved or deleted; one `get_many` checks all three. Built every time when the cache is off.
    """
    from django.core.cache import cache

    seconds = shared_cache_seconds()
    if seconds <= 0:
        return build()
    keys = [
        shared_cache_key(name, *parts),
        shared_cache_key("sharing-generation"),
        shared_cache_key(FILTER_OPTIONS_VERSION),
    ]
    found = cache.get_many(keys)
    versions = tuple(current_version(key, found.get(key)) for key in keys[1:])
    entry = found.get(keys[0])
    if entry is not None and entry[0] == versions:
        return entry[1]
    value = build()
    cache.set(keys[0], (versions, value), timeout=seconds)
    return value


def customer_filter_options(user, owners, units):
    """A callable giving `filter_options_markup` for the user's view scope, through `directory_cached`.

    One entry per view scope and language: every see-all user shares one (an executive's 2,000
    owners and 450 units were ~20 ms of CPU and 3 queries on every list request); a unit scope's
    entry also holds the user (who is always an owner option).
    """
    from django.utils.translation import get_language

    scope = get_principal(user).scope("view")
    if scope.sees_all:
        scope_key = "all"
    else:
        units_digest = hashlib.blake2b(",".join(map(str, sorted(scope.unit_ids))).encode(), digest_size=12)
        scope_key = f"user{user.pk}-{units_digest.hexdigest()}"
    build = functools.partial(filter_options_markup, owners, units)
    return lambda: directory_cached("filter-options", (scope_key, get_language()), build)


def filter_options_changed(**kwargs) -> None:
    """Signal handler: users, tags or customer roles changed; cached directory options are void."""
    shared_version_changed(FILTER_OPTIONS_VERSION)


def transfer_choices(user):
    """New owners and units a transferrer may choose: those in their change scope."""
    return _scope_users_and_units(user, "change")


def customer_autocomplete(user, text: str, exclude=None):
    """Up to ten current customers the user can see, for picking the other side of a relationship."""
    text = (text or "").strip()
    if not text:
        return []
    queryset = Customer.objects.visible_to(user).active().search(text)
    if exclude:
        queryset = queryset.exclude(pk=exclude)
    return list(queryset.order_by("name_normalized", "pk").only("pk", "number", "name", "kind")[:AUTOCOMPLETE_LIMIT])


# --- relationships


def _visible_relationships(user, customer: Customer):
    """The customer's relationships whose other side the user can see, both directions in one query:
    the customer's few relationships first (two index scans), then the other side's visibility."""
    principal = get_principal(user)
    outgoing = Q(from_customer=customer) & (visibility_q(principal, "view", prefix="to_customer__") or Q())
    incoming = Q(to_customer=customer) & (visibility_q(principal, "view", prefix="from_customer__") or Q())
    return (
        Relationship.objects.filter(Q(from_customer=customer) | Q(to_customer=customer))
        .filter(outgoing | incoming)
        .select_related("from_customer", "to_customer")
    )


@dataclass
class RelationshipRow:
    label: str
    other: Customer
    relationship: Relationship


def customer_relationships(user, customer: Customer) -> list[RelationshipRow]:
    """Relationships from both sides, labelled as read from `customer`; only with customers the user can see.

    A relationship with a customer the user cannot see is left out entirely (its name would leak).
    The customer's relationships are read by a statement compiled once (`_RELATIONSHIPS`); the
    other side's visibility is then the predicate's answer: the other customer's row proves it
    (scope "all", owner, unit in scope: `row_proves_access`), or `visible_to` is asked for the
    customers it does not prove, in one query. Applying the predicate twice inside the
    relationship query (as `_visible_relationships` does for the edit form) cost 3.5 ms of CPU
    per 360 page to build and compile.
    """
    principal = get_principal(user)
    relationships = _RELATIONSHIPS.models(pk=customer.pk)
    pairs = [
        (rel, rel.to_customer if rel.from_customer_id == customer.pk else rel.from_customer) for rel in relationships
    ]
    unproven = {other.pk for _rel, other in pairs if not row_proves_access(principal, other, Action.VIEW)}
    visible = (
        set(Customer.objects.visible_to(user).filter(pk__in=sorted(unproven)).values_list("pk", flat=True))
        if unproven
        else set()
    )
    rows = [
        RelationshipRow(rel.label_for(customer.pk), other, rel)
        for rel, other in pairs
        if other.pk not in unproven or other.pk in visible
    ]
    rows.sort(key=lambda row: (row.relationship.kind, row.other.name_normalized))
    return rows


def _relationships_of():
    table = Relationship._meta.db_table
    customer = Slot("pk")
    return Relationship.objects.filter(
        slot_filter(f'("{table}"."from_customer_id" = %s OR "{table}"."to_customer_id" = %s)', customer, customer)
    ).select_related("from_customer", "to_customer")


_RELATIONSHIPS = CompiledQuery(Relationship, _relationships_of)


def customer_relationships_editable(user, customer: Customer):
    """Relationships the edit form offers to remove: those with a customer the user can see."""
    return _visible_relationships(user, customer).order_by("kind", "pk")


# --- history


# Which audited fields belong to a maskable field group, per model (auditlog already masks some).
HISTORY_FIELD_GROUPS = {
    "contactpoint": {
        "value": CONTACT,
        "normalized": CONTACT,
        "district": CONTACT,
        "postcode": CONTACT,
    },
    "companyprofile": {"registered_address": CONTACT, "credit_code": IDENTITY},
    "personprofile": {"id_number": IDENTITY, "birth_date": IDENTITY, "marital_status": IDENTITY},
}
HISTORY_SKIP_FIELDS = {
    "id",
    "customer",
    "from_customer",
    "to_customer",
    "created_at",
    "updated_at",
    "name_normalized",
    "normalized",
    "version",
}
USER_FIELDS = {"owner", "created_by", "updated_by"}


@dataclass
class HistoryChange:
    label: str
    old: str
    new: str


@dataclass
class HistoryEntry:
    timestamp: object
    actor: str
    action: str
    subject: str
    what: str = ""
    changes: list[HistoryChange] = field(default_factory=list)
    details: list[tuple[str, str]] = field(default_factory=list)


def customer_history_allowed(user, customer: Customer) -> bool:
    principal = get_principal(user)
    return principal.may("can_view_audit") or (customer.owner_id is not None and customer.owner_id == principal.user_id)


def _history_query(customer: Customer, contact_ids, relationship_ids) -> Q:
    """Entries of the customer, its profile, its contact points and relationships: all by indexed object id.

    Deleted contact points and relationships leave an entry on the customer itself (see
    customers.services), so no query has to search the JSON of other entries.
    """
    types = ContentType.objects.get_for_models(Customer, CompanyProfile, PersonProfile, ContactPoint, Relationship)
    q = Q(content_type=types[Customer], object_id=customer.pk)
    if contact_ids:
        q |= Q(content_type=types[ContactPoint], object_id__in=list(contact_ids))
    if relationship_ids:
        q |= Q(content_type=types[Relationship], object_id__in=list(relationship_ids))
    profile = getattr(customer, "company" if customer.is_company else "person", None)
    if profile is not None:
        q |= Q(content_type=types[type(profile)], object_id=profile.pk)
    return q


def _model_field(model, name: str):
    """The concrete field `name` of `model`, or None (reverse relations auditlog also lists, gone fields)."""
    try:
        model_field = model._meta.get_field(name)
    except Exception:  # noqa: BLE001  (FieldDoesNotExist: a field that no longer exists)
        return None
    return model_field if getattr(model_field, "concrete", False) else None


def _readable(model_field, value: str) -> str:
    """Choice labels and yes/no instead of stored codes."""
    if model_field is not None and model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if model_field is not None and model_field.get_internal_type() == "BooleanField":
        return str(_("yes")) if value == "True" else str(_("no")) if value == "False" else value
    return value


def customer_history(user, customer: Customer, presenter: CustomerPresenter, *, contact_ids=(), relationship_ids=()):
    """The latest changes to the customer, its profile, contact points and relationships, or None.

    Only for viewers who may read the audit trail and for the owner. Values of maskable field
    groups are shown as the viewer's policy allows (auditlog already masks some of them itself).
    """
    if not customer_history_allowed(user, customer):
        return None
    entries = list(
        LogEntry.objects.filter(_history_query(customer, contact_ids, relationship_ids))
        .exclude(action=LogEntry.Action.ACCESS)
        .select_related("actor", "content_type")
        .order_by("-timestamp", "-pk")[:HISTORY_LIMIT]
    )
    user_ids, unit_ids = set(), set()
    for entry in entries:
        for name, values in (entry.changes or {}).items():
            target = user_ids if name in USER_FIELDS else unit_ids if name == "org_unit" else None
            if target is not None:
                target.update(v for v in values if v and str(v).isdigit())
    users = {str(u.pk): u.get_full_name() or u.username for u in get_user_model().objects.filter(pk__in=user_ids)}
    units = {str(u.pk): u.name for u in OrgUnit.objects.filter(pk__in=unit_ids)}

    def shown(model_name, model_field, name, value):
        if value in (None, "None", ""):
            return ""
        if name in USER_FIELDS:
            return users.get(str(value), str(value))
        if name == "org_unit":
            return units.get(str(value), str(value))
        group = HISTORY_FIELD_GROUPS.get(model_name, {}).get(name)
        if group is not None:
            if not presenter.sees(group):
                return str(_("hidden"))
            if not presenter.clear(group):
                return mask_generic(value)
        return _readable(model_field, str(value))

    action_labels = dict(LogEntry.Action.choices)
    result = []
    for entry in entries:
        model = entry.content_type.model_class()
        model_name = entry.content_type.model
        changes = []
        created = entry.action == LogEntry.Action.CREATE
        for name, values in (entry.changes or {}).items():
            model_field = _model_field(model, name) if model else None
            if name in HISTORY_SKIP_FIELDS or model_field is None:
                continue
            if isinstance(values, dict) and values.get("type") == "m2m":  # roles and tags
                objects = ", ".join(str(o) for o in values.get("objects", []))
                sign = "+" if values.get("operation") == "add" else "−"
                changes.append(HistoryChange(str(model_field.verbose_name), "", f"{sign} {objects}"))
                continue
            if not isinstance(values, list | tuple) or len(values) != 2:
                continue
            new = shown(model_name, model_field, name, values[1])
            old = "" if created else shown(model_name, model_field, name, values[0])
            if created and not new:
                continue  # a new record's empty fields say nothing
            changes.append(HistoryChange(str(model_field.verbose_name), old, new))
        data = entry.additional_data or {}
        details = [(str(k), str(v)) for k, v in data.items() if k != "what" and v not in (None, "")]
        result.append(
            HistoryEntry(
                timestamp=entry.timestamp,
                actor=(entry.actor.get_full_name() or entry.actor.username) if entry.actor else "",
                action=str(action_labels.get(entry.action, entry.action)),
                subject=str(model._meta.verbose_name) if model else model_name,
                what=str(data.get("what", "")),
                changes=changes,
                details=details,
            )
        )
    return result


# --- the 360° page


def customer_360_customer(user, pk) -> Customer:
    """The customer with everything the 360° page shows, in a fixed number of queries.

    PostgreSQL: the row is read by a statement compiled once (`_CUSTOMER_360`: building and
    compiling the visibility predicate, six joins and two sub-selects was 1.2 ms of CPU a page).
    Whether the viewer may see it is then answered by the row when it can (scope "all", owner,
    unit in scope: `row_proves_access`) and otherwise by `may_access_customer`, the same predicate
    as `visible_to`; a customer the viewer may not see is a 404 either way, as before."""
    from django.db import connection

    if connection.vendor == "postgresql":
        customer = _visible_or_404(user, pk, _CUSTOMER_360)
        prefetch_related_objects([customer], "contact_points")
        return customer
    queryset = (
        Customer.objects.visible_to(user, action="view")
        .select_related(*_CUSTOMER_360_RELATED)
        .prefetch_related("roles", "tags", "contact_points")
    )
    customer = get_object_or_404(queryset, pk=_pk_or_404(pk))
    remember_loaded_customer(user, customer)
    return customer


_CUSTOMER_360_RELATED = ("owner", "org_unit", "company", "person", "created_by", "updated_by")


def _customer_360_rows():
    columns = _related_columns(None, None)  # role and tag names (the other columns are the list's)
    return (
        _customer_by_pk()
        .select_related(*_CUSTOMER_360_RELATED)
        .annotate(row_role_names=columns["row_role_names"], row_tag_names=columns["row_tag_names"])
    )


_CUSTOMER_360 = CompiledQuery(Customer, _customer_360_rows)


def customer_badges(customer: Customer) -> tuple[list[str], list[str]]:
    """Role and tag names of a customer loaded by `customer_360_customer` (annotated or prefetched)."""
    if hasattr(customer, "row_role_names"):
        return [str(_(name)) for name in customer.row_role_names], list(customer.row_tag_names)
    return [str(role) for role in customer.roles.all()], [str(tag) for tag in customer.tags.all()]


def _profile_rows(customer: Customer) -> list[tuple[str, object]]:
    """Core-group profile fields (always visible to whoever sees the customer)."""
    if customer.is_company:
        profile = getattr(customer, "company", None)
        if profile is None:
            return []
        return [
            (_("Industry"), profile.industry),
            (_("Size"), profile.get_size_display()),
            (_("Website"), profile.website),
            (_("Founded on"), profile.founded_on),
        ]
    profile = getattr(customer, "person", None)
    if profile is None:
        return []
    return [(_("Gender"), profile.get_gender_display()), (_("Title"), profile.title)]


def _identity_rows(presenter: CustomerPresenter) -> list[tuple[str, object]]:
    if not presenter.sees(IDENTITY):
        return []
    if presenter.is_company:
        return [(_("Unified social credit code"), presenter.credit_code())]
    rows = [(_("ID number"), presenter.id_number()), (_("Birth date"), presenter.birth_date())]
    person = getattr(presenter.customer, "person", None)
    if person is not None and person.marital_status:
        from sharing.presenters import ShownValue

        if presenter.clear(IDENTITY):
            rows.append((_("Marital status"), ShownValue(person.get_marital_status_display(), group=IDENTITY)))
        else:
            rows.append(
                (
                    _("Marital status"),
                    ShownValue("****", masked=True, revealable=presenter.revealable(IDENTITY), group=IDENTITY),
                )
            )
    return rows


def customer_360_sections(*, customer: Customer, user, request) -> list[tuple[str, dict]]:
    """The interactions app's sections (timeline, follow-ups, deals, service); [] until it provides them.

    The interactions app returns only the sections the viewer's role may see, as (template, context);
    the page includes each template with `section=context` (customer_detail.html). Rendering each with
    render_to_string cost a new Context and a run of every context processor per section.
    """
    try:
        module = import_module("interactions.selectors")
    except ImportError:
        return []
    provider = getattr(module, "customer_360_sections", None)
    if provider is None:
        return []
    return list(provider(customer=customer, user=user, request=request) or [])


def _team_context(*, customer: Customer, user) -> dict:
    from customers.teams import team_context

    return team_context(customer=customer, user=user)


def customer_360(*, user, customer: Customer, request=None) -> dict:
    """Everything the 360° page shows, through the presenter and the visibility predicate."""
    presenter = CustomerPresenter(customer, user)
    can_change = (
        customer.status not in (Customer.Status.MERGED, Customer.Status.ERASED)
        and bool(presenter.editable_groups())
        and may_access_customer(user, customer.pk, "change")
    )
    relationships = customer_relationships(user, customer)
    role_names, tag_names = customer_badges(customer)
    return {
        "customer": presenter,
        "role_names": role_names,
        "tag_names": tag_names,
        "profile_rows": _profile_rows(customer),
        "identity_rows": _identity_rows(presenter),
        "relationships": relationships,
        "sections": customer_360_sections(customer=customer, user=user, request=request),
        "team": _team_context(customer=customer, user=user),
        "history": customer_history(
            user,
            customer,
            presenter,
            contact_ids=[cp.pk for cp in customer.contact_points.all()],
            relationship_ids=[row.relationship.pk for row in relationships],
        ),
        "history_limit": HISTORY_LIMIT,
        "can_edit": can_change,
        "can_transfer": can_change and get_principal(user).may("can_transfer"),
        "sees_contact": presenter.sees(CONTACT),
        "contact_level_masked": presenter.level(CONTACT) == FieldLevel.MASKED,
    }


# --- optimistic locking


CHANGE_LABELS = {
    "contacts": _("Contact points"),
    "roles": _("Roles"),
    "tags": _("Tags"),
}


def stale_changes(customer: Customer, changes) -> list[tuple[str, object, object]]:
    """StaleVersion.changes with readable labels and choice values: (field, stored value, your value)."""
    profile_model = CompanyProfile if customer.is_company else PersonProfile
    rows = []
    for name, stored, yours in changes:
        if name in CHANGE_LABELS:
            rows.append((str(CHANGE_LABELS[name]), stored, yours))
            continue
        model = Customer if name in {f.name for f in Customer._meta.get_fields()} else profile_model
        try:
            model_field = model._meta.get_field(name)
        except Exception:  # noqa: BLE001
            rows.append((name, stored, yours))
            continue
        choices = dict(model_field.choices or [])
        rows.append(
            (str(model_field.verbose_name), choices.get(stored, stored or "—"), choices.get(yours, yours or "—"))
        )
    return rows
