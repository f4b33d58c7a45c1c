"""Merge and unmerge: survivorship, every related row moved and put back, access carried over and
taken back, refusals (T7 of TESTING.md: round trips over random pairs lose nothing and change no
one's access)."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from customers.models import ContactPoint, Customer, Relationship
from customers.tests.factories import RelationshipFactory
from dedup.models import CandidatePair, MatchKey, MergeJournal
from dedup.services import customer_merge, customer_related_fks, customer_unmerge
from sharing.models import AccessRequest, CustomerGroupShare, CustomerUserShare, UnmaskGrant

PERSONAS = [
    "hq_executive",
    "guangdong_sales_manager",
    "shenzhen_sales_rep",
    "guangzhou_sales_rep",
    "beijing_sales_manager",
    "beijing_sales_rep",
    "channel_manager",
    "dealer_user",
    "service_agent",
    "finance_clerk",
    "data_steward",
    "auditor",
    "administrator",
    "outsider",
]


@pytest.fixture
def personas(request):
    return {name: request.getfixturevalue(name) for name in PERSONAS}


def _perm(codename):
    return Permission.objects.get(content_type__app_label="customers", codename=codename)


def _share(customer, *, user=None, group=None, codename="view_customer", expires_at=None):
    model, target = (CustomerUserShare, {"user": user}) if user else (CustomerGroupShare, {"group": group})
    return model.objects.create(content_object=customer, permission=_perm(codename), expires_at=expires_at, **target)


# --- dumps ----------------------------------------------------------------------------------------


def _row(obj, skip=()):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.attname not in skip}


def dump(*customers) -> dict:
    """Everything about these customers: their fields (version aside: it only ever goes up), m2m,
    profiles, and every row of every model pointing at them, found the same generic way."""
    ids = [c.pk for c in customers]
    result = {}
    for customer in Customer.objects.filter(pk__in=ids).order_by("pk"):
        result[f"customer:{customer.pk}"] = _row(customer, skip={"version"})
        result[f"roles:{customer.pk}"] = sorted(customer.roles.values_list("pk", flat=True))
        result[f"tags:{customer.pk}"] = sorted(customer.tags.values_list("pk", flat=True))
        for attr in ("company", "person"):
            profile = getattr(customer, attr, None)
            if profile is not None:
                result[f"{attr}:{customer.pk}"] = _row(profile)
    models = {(model, fk.attname) for model, fk in customer_related_fks()}
    models |= {(ContactPoint, "customer_id"), (Relationship, "from_customer_id"), (Relationship, "to_customer_id")}
    models |= {(CustomerUserShare, "content_object_id"), (CustomerGroupShare, "content_object_id")}
    for model, attname in sorted(models, key=lambda m: (m[0]._meta.label, m[1])):
        for obj in model._base_manager.filter(**{f"{attname}__in": ids}).order_by("pk"):
            result[f"{model._meta.label}:{obj.pk}"] = _row(obj)
    result["match_keys"] = sorted(MatchKey.objects.filter(customer_id__in=ids).values_list("customer_id", "key"))
    result["pairs"] = [_row(p) for p in CandidatePair.objects.filter(a_id__in=ids, b_id__in=ids).order_by("pk")]
    return result


def access(personas) -> dict:
    """Who sees and changes what: the visible_to sets of every persona."""
    from sharing.principal import forget_principal

    result = {}
    for name, user in personas.items():
        forget_principal(user)
        for action in ("view", "change"):
            result[(name, action)] = set(Customer.objects.visible_to(user, action).values_list("pk", flat=True))
    return result


# --- a world --------------------------------------------------------------------------------------


@pytest.fixture
def pair(make_customer, shenzhen_sales_rep, guangzhou_sales_rep, data_steward):
    """Two records of one company, owned by two reps, with the usual clutter around them."""
    a = make_customer(
        name="深圳市华为技术有限公司", owner=shenzhen_sales_rep, phones=["13800138000"], emails=["info@huawei.com"]
    )
    b = make_customer(
        name="华为技术有限公司",
        owner=guangzhou_sales_rep,
        phones=["+86 138 0013 8000", "0755-28780808"],
        industry="通信设备",
        website="https://www.huawei.com",
    )
    return a, b


def test_a_merge_moves_every_related_row_and_keeps_the_duplicate_as_merged(
    pair, data_steward, make_customer, shenzhen_sales_rep, guangzhou_sales_rep, beijing_sales_rep
):
    from interactions.tests.factories import ActivityFactory

    a, b = pair
    person = make_customer(name="张伟", kind="person", owner=guangzhou_sales_rep, phones=["13900139000"])
    RelationshipFactory(from_customer=b, to_customer=person, kind="employs")
    RelationshipFactory(from_customer=a, to_customer=person, kind="employs")  # a twin: dropped
    RelationshipFactory(from_customer=a, to_customer=b, kind="related")  # would be a self-link: dropped
    activity = ActivityFactory(customer=b)
    grant = UnmaskGrant.objects.create(
        user=beijing_sales_rep, customer=b, field_group="contact", expires_at=timezone.now() + timedelta(days=3)
    )
    request = AccessRequest.objects.create(requester=beijing_sales_rep, customer=b, kind="view", reason="跟进")
    _share(b, user=beijing_sales_rep, expires_at=timezone.now() + timedelta(days=5))

    survivor, journal = customer_merge(survivor=a, duplicate=b, merged_by=data_steward, reason="同一家公司")

    b.refresh_from_db()
    assert b.status == "merged" and b.merged_into_id == a.pk
    # Contact points: the equal mobile stays behind, the landline moves.
    assert sorted(a.contact_points.values_list("normalized", flat=True)) == sorted(
        ["+8613800138000", "info@huawei.com", "+867552878 0808".replace(" ", "")]
    )
    assert b.contact_points.count() == 1
    # Relationships: the employment moved but its twin existed, the self-link was dropped.
    assert Relationship.objects.filter(from_customer=a, to_customer=person).count() == 1
    assert not Relationship.objects.filter(from_customer=a, to_customer=a).exists()
    assert not Relationship.objects.filter(from_customer=b).exists()
    assert len(journal.deleted) == 2
    # Everything else moved.
    activity.refresh_from_db()
    grant.refresh_from_db()
    request.refresh_from_db()
    assert activity.customer_id == grant.customer_id == request.customer_id == a.pk
    # Survivorship defaults: empty fields filled from the duplicate.
    a.refresh_from_db()
    assert a.company.industry == "通信设备" and a.company.website == "https://www.huawei.com"
    # Access carried over as view shares: the duplicate's owner and its share holder.
    shares = CustomerUserShare.objects.filter(content_object=a).select_related("permission")
    assert {(s.user_id, s.permission.codename) for s in shares} == {
        (guangzhou_sales_rep.pk, "view_customer"),
        (beijing_sales_rep.pk, "view_customer"),
    }
    assert len(journal.created) == 2
    # Keys: the duplicate has none, the survivor gained the landline.
    assert not MatchKey.objects.filter(customer=b).exists()
    assert MatchKey.objects.filter(customer=a, key="p:+8675528780808").exists()
    # Audited on both records.
    assert LogEntry.objects.filter(additional_data__what="merge").count() == 2


def test_the_stewards_field_choices_win_over_the_defaults(pair, data_steward):
    a, b = pair
    customer_merge(
        survivor=a, duplicate=b, merged_by=data_steward, reason="同一家公司", field_choices={"name": "duplicate"}
    )
    a.refresh_from_db()
    assert a.name == "华为技术有限公司" and a.name_normalized == "华为技术有限公司"


@pytest.mark.parametrize("case", ["self", "merged", "erased", "kinds", "no_reason"])
def test_a_merge_is_refused_for_itself_merged_or_erased_records_mixed_kinds_and_without_reason(
    case, pair, data_steward, make_customer
):
    a, b = pair
    if case == "self":
        b = a
    elif case in ("merged", "erased"):
        Customer.objects.filter(pk=b.pk).update(status=case)
    elif case == "kinds":
        b = make_customer(name="华为", kind="person")
    with pytest.raises(ValidationError):
        customer_merge(survivor=a, duplicate=b, merged_by=data_steward, reason="" if case == "no_reason" else "x")
    assert not MergeJournal.objects.exists()


def test_a_merge_needs_the_merge_flag_and_change_rights_on_both(
    pair, guangdong_sales_manager, regional_steward, make_customer, beijing_sales_rep
):
    a, b = pair
    # The Guangdong manager may change both but is no data steward.
    with pytest.raises(PermissionDenied):
        customer_merge(survivor=a, duplicate=b, merged_by=guangdong_sales_manager, reason="x")
    # The regional steward may not change a Beijing customer.
    beijing = make_customer(name="华为技术有限公司北京分公司", owner=beijing_sales_rep)
    with pytest.raises(PermissionDenied):
        customer_merge(survivor=a, duplicate=beijing, merged_by=regional_steward, reason="x")
    # …but may merge the two Guangdong records.
    customer_merge(survivor=a, duplicate=b, merged_by=regional_steward, reason="x")


def test_unmerge_restores_both_records_every_row_and_everyones_access(pair, data_steward, personas):
    a, b = pair
    a_id, b_id = CandidatePair.ordered(a.pk, b.pk)
    CandidatePair.objects.create(a_id=a_id, b_id=b_id, score=88, band="likely")
    before, seen = dump(a, b), access(personas)

    _survivor, journal = customer_merge(
        survivor=b, duplicate=a, merged_by=data_steward, reason="重复", field_choices={"name": "duplicate"}
    )
    assert access(personas) != seen  # the duplicate's owner now sees the survivor
    assert CandidatePair.objects.get().status == "merged"

    customer_unmerge(journal=journal, unmerged_by=data_steward, reason="合并错了")
    assert dump(a, b) == before
    assert access(personas) == seen
    journal.refresh_from_db()
    assert journal.status == "unmerged"
    assert LogEntry.objects.filter(additional_data__what="unmerge").count() == 2
    with pytest.raises(ValidationError):
        customer_unmerge(journal=journal, unmerged_by=data_steward, reason="again")


def test_unmerge_can_remember_that_the_two_are_different(pair, data_steward):
    a, b = pair
    a_id, b_id = CandidatePair.ordered(a.pk, b.pk)
    CandidatePair.objects.create(a_id=a_id, b_id=b_id, score=88, band="likely")
    _survivor, journal = customer_merge(survivor=a, duplicate=b, merged_by=data_steward, reason="重复")
    customer_unmerge(journal=journal, unmerged_by=data_steward, reason="不是同一家", not_duplicate=True)
    assert CandidatePair.objects.get().status == "not_duplicate"


def test_unmerge_is_refused_while_the_survivor_is_merged_into_a_third_record(pair, data_steward, make_customer):
    a, b = pair
    c = make_customer(name="华为技术有限公司深圳分公司")
    _s, first = customer_merge(survivor=a, duplicate=b, merged_by=data_steward, reason="重复")
    _s, second = customer_merge(survivor=c, duplicate=a, merged_by=data_steward, reason="重复")
    with pytest.raises(ValidationError):
        customer_unmerge(journal=first, unmerged_by=data_steward, reason="x")
    customer_unmerge(journal=second, unmerged_by=data_steward, reason="x")
    customer_unmerge(journal=first, unmerged_by=data_steward, reason="x")
    assert set(Customer.objects.filter(pk__in=[a.pk, b.pk, c.pk]).values_list("status", flat=True)) == {"active"}


def test_editing_the_survivor_after_a_merge_does_not_stop_an_exact_unmerge(pair, data_steward):
    from customers.services import ContactInput, customer_update

    a, b = pair
    before = dump(a, b)
    survivor, journal = customer_merge(survivor=a, duplicate=b, merged_by=data_steward, reason="重复")
    moved = survivor.contact_points.get(normalized="+8675528780808")
    customer_update(
        customer=survivor,
        expected_version=survivor.version,
        updated_by=data_steward,
        name="华为（改名）",
        contacts=[ContactInput(kind="landline", value="0755-28780809", id=moved.pk)],
    )
    customer_unmerge(journal=journal, unmerged_by=data_steward, reason="x")
    assert dump(a, b) == before


def _random_world(rng, make_customer, personas, n=24):
    """Customers in several units with random contacts, relationships, shares, grants, requests
    and interaction rows."""
    from django.contrib.auth.models import Group

    owners = [personas[p] for p in ("shenzhen_sales_rep", "guangzhou_sales_rep", "beijing_sales_rep", "dealer_user")]
    owners.append(personas["guangdong_sales_manager"])
    phones = ["13800000001", "13800000002", "13800000003", "020-88881111", "0755-26668888"]
    emails = ["a@x.com", "b@x.com", "sales@y.cn"]
    customers = []
    for i in range(n):
        kind = rng.choice(["company", "company", "person"])
        customer = make_customer(
            name=(f"随机测试{i % 5}有限公司" if kind == "company" else f"王{'伟芳娜敏静'[i % 5]}"),
            kind=kind,
            owner=rng.choice(owners + [None]),
            phones=rng.sample(phones, rng.randint(0, 3)),
            emails=rng.sample(emails, rng.randint(0, 2)),
            addresses=[f"深圳市南山区科技园{i}号"] if rng.random() < 0.5 else [],
        )
        if customer.owner is None:
            Customer.objects.filter(pk=customer.pk).update(
                org_unit=rng.choice(list(personas["data_steward"].membership.unit.subtree()))
            )
        customers.append(customer)
    groups = list(Group.objects.all()[:4])
    for customer in customers:
        for other in rng.sample(customers, 3):
            kind = rng.choice(["employs", "holds", "related", "spouse_of"])
            if (
                other.pk != customer.pk
                and not Relationship.objects.filter(from_customer=customer, to_customer=other, kind=kind).exists()
            ):
                RelationshipFactory(from_customer=customer, to_customer=other, kind=kind)
        for user in rng.sample(list(personas.values()), 2):
            expires = rng.choice(
                [None, timezone.now() + timedelta(days=rng.randint(1, 30)), timezone.now() - timedelta(days=1)]
            )
            if not CustomerUserShare.objects.filter(user=user, content_object=customer).exists():
                _share(
                    customer, user=user, codename=rng.choice(["view_customer", "change_customer"]), expires_at=expires
                )
        if rng.random() < 0.5:
            _share(
                customer, group=rng.choice(groups), expires_at=rng.choice([None, timezone.now() + timedelta(days=9)])
            )
        if rng.random() < 0.3:
            UnmaskGrant.objects.create(
                user=rng.choice(list(personas.values())),
                customer=customer,
                field_group="contact",
                expires_at=timezone.now() + timedelta(days=2),
            )
        if rng.random() < 0.3:
            AccessRequest.objects.create(requester=personas["outsider"], customer=customer, kind="view", reason="r")
        try:
            from interactions.tests.factories import ActivityFactory, OpportunityFactory

            for _ in range(rng.randint(0, 2)):
                ActivityFactory(customer=customer, user=customer.owner, created_by=customer.owner)
            if rng.random() < 0.3:
                OpportunityFactory(customer=customer, owner=customer.owner, created_by=customer.owner)
        except ImportError:  # pragma: no cover - the interactions app is part of this project
            pass
    return customers


@pytest.mark.slow
def test_thirty_random_merges_and_unmerges_lose_nothing_and_change_no_ones_access(
    rng, make_customer, personas, data_steward
):
    customers = _random_world(rng, make_customer, personas)
    moved_total = 0
    for _round in range(30):
        x, y = rng.sample(customers, 2)
        if x.kind != y.kind:
            y = next(c for c in customers if c.kind == x.kind and c.pk != x.pk)
        before, seen = dump(x, y), access(personas)
        choices = {name: rng.choice(["survivor", "duplicate"]) for name in ("name", "source", "province", "city")}
        _survivor, journal = customer_merge(
            survivor=x, duplicate=y, merged_by=data_steward, reason="随机", field_choices=choices
        )
        moved_total += journal.moved_count
        # While merged, nothing points at the duplicate but rows the survivor already had.
        assert Customer.objects.get(pk=y.pk).status == "merged"
        customer_unmerge(journal=journal, unmerged_by=data_steward, reason="还原")
        after = dump(x, y)
        assert after == before, [k for k in set(before) | set(after) if before.get(k) != after.get(k)]
        assert access(personas) == seen
    assert moved_total > 30
