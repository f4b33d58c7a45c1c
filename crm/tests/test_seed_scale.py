"""`seed_scale --small` on PostgreSQL: sizes, numbering, memberships, shares and visibility of the seed.

The seed is loaded once for the module inside a transaction that is rolled back at the end; each
test runs in a savepoint within it.
"""

import io

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="seed_scale needs PostgreSQL (DATABASE_URL=postgres://…)",
    ),
]


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """Output of `seed_scale --small`, loaded once; everything is rolled back after the module."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            out = io.StringIO()
            call_command("seed_scale", "--small", stdout=out)
            yield out.getvalue()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def _rows(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_the_small_seed_loads_the_requested_sizes(seeded, db):
    from django.contrib.auth import get_user_model

    from crm.scale import SMALL
    from customers.models import ContactPoint, Customer
    from sharing.models import CustomerGroupShare, CustomerUserShare

    assert Customer.objects.count() == SMALL.customers
    assert get_user_model().objects.count() == SMALL.users
    assert CustomerUserShare.objects.count() + CustomerGroupShare.objects.count() == SMALL.shares
    assert ContactPoint.objects.count() > 2 * SMALL.customers
    assert Customer.objects.filter(kind="company").exists() and Customer.objects.filter(kind="person").exists()


def test_interactions_are_seeded_to_the_requested_sizes_when_their_models_exist(seeded, db):
    from django.apps import apps

    from crm.scale import SMALL, TIMELINE_TAG

    names = {m.__name__: m for m in apps.get_app_config("interactions").get_models()}
    if "Activity" not in names or "ServiceCase" not in names:
        pytest.skip("interactions models not there yet")
    documents = ("Activity", "Opportunity", "Quote", "Contract", "Order", "Shipment", "Payment")
    total = sum(names[n].objects.count() for n in documents if n in names)
    assert abs(total - SMALL.activities) <= len(documents)  # each model's share is rounded down
    assert names["ServiceCase"].objects.count() == SMALL.cases
    customer_id = _rows(
        "SELECT customer_id FROM customers_customer_tags t JOIN customers_tag g ON g.id = t.tag_id WHERE g.name = %s",
        [TIMELINE_TAG],
    )[0][0]
    entries = sum(names[n].objects.filter(customer_id=customer_id).count() for n in (*documents, "ServiceCase"))
    assert entries >= SMALL.timeline


def test_quotes_belong_to_the_customer_of_their_opportunity(seeded, db):
    from django.apps import apps

    try:
        Quote = apps.get_model("interactions", "Quote")
    except LookupError:
        pytest.skip("interactions models not there yet")
    assert Quote.objects.exists()
    assert not Quote.objects.exclude(customer_id=models_f("opportunity__customer_id")).exists()


def models_f(name):
    from django.db.models import F

    return F(name)


def test_customer_numbers_are_unique_and_the_sequence_moved_past_them(seeded, db):
    from customers.models import Customer, NumberSequence
    from customers.services import customer_numbers_reserve

    numbers = list(Customer.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers))
    highest = max(int(n[1:]) for n in numbers)
    assert NumberSequence.objects.get(name="customer").last_value >= highest
    fresh = customer_numbers_reserve(1)[0]
    assert fresh not in set(numbers) and int(fresh[1:]) > highest


def test_every_user_has_a_membership_and_exactly_one_role(seeded, db):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    users = User.objects.filter(is_superuser=False)
    assert not users.filter(membership__isnull=True).exists()
    roles = dict(
        _rows(
            "SELECT ug.user_id, count(*) FROM auth_user_groups ug JOIN sharing_rolepolicy p ON p.group_id = ug.group_id "
            "GROUP BY ug.user_id"
        )
    )
    assert all(roles.get(pk) == 1 for pk in users.values_list("pk", flat=True))
    managers = User.objects.filter(membership__is_manager=True, membership__unit__kind="province")
    assert managers.count() >= 27  # every province has a manager


def test_the_org_tree_has_27_provinces_under_hq_with_regions_and_dealers(seeded, db):
    from sharing.models import OrgUnit

    hq = OrgUnit.objects.get(code="HQ")
    provinces = OrgUnit.objects.filter(kind="province")
    assert provinces.count() == 27
    assert all(p.parent_id == hq.pk and p.path.startswith(hq.path) for p in provinces)
    assert OrgUnit.objects.filter(kind="region").count() >= 54
    assert OrgUnit.objects.filter(kind="dealer").exists()


def test_shares_carry_view_or_change_permission_and_some_have_expired(seeded, db):
    from django.utils import timezone

    from crm.scale import BIG_SHARE_GROUP, SMALL
    from sharing.models import CustomerGroupShare, CustomerUserShare

    for model in (CustomerUserShare, CustomerGroupShare):
        codenames = set(model.objects.values_list("permission__codename", flat=True).distinct())
        assert codenames <= {"view_customer", "change_customer"}
        assert model.objects.filter(permission__content_type__model="customer").count() == model.objects.count()
    now = timezone.now()
    assert CustomerUserShare.objects.filter(expires_at__lt=now).exists()
    assert CustomerUserShare.objects.filter(
        expires_at__gt=now, expires_at__lt=now + timezone.timedelta(days=8)
    ).exists()
    assert CustomerUserShare.objects.filter(expires_at__isnull=True).exists()
    assert CustomerGroupShare.objects.filter(group__name=BIG_SHARE_GROUP).count() == SMALL.big_share


def _reference_visible(user) -> set[int]:
    """Naive visibility for a role with `own` scope: owned, or shared with the user or one of
    their groups by a share that has not expired."""
    rows = _rows(
        """
        SELECT id FROM customers_customer WHERE owner_id = %(u)s
        UNION SELECT content_object_id FROM sharing_customerusershare
              WHERE user_id = %(u)s AND (expires_at IS NULL OR expires_at > now())
        UNION SELECT content_object_id FROM sharing_customergroupshare
              WHERE group_id IN (SELECT group_id FROM auth_user_groups WHERE user_id = %(u)s)
                AND (expires_at IS NULL OR expires_at > now())
        """,
        {"u": user.pk},
    )
    return {r[0] for r in rows}


def test_a_seeded_rep_sees_exactly_own_and_live_shared_customers(seeded, db):
    from django.contrib.auth import get_user_model

    from customers.models import Customer

    rep_id = _rows(
        "SELECT s.user_id FROM sharing_customerusershare s JOIN auth_user_groups ug ON ug.user_id = s.user_id "
        "JOIN sharing_rolepolicy p ON p.group_id = ug.group_id AND p.code = 'sales_rep' "
        "GROUP BY s.user_id ORDER BY count(*) DESC, s.user_id LIMIT 1"
    )[0][0]
    rep = get_user_model().objects.get(pk=rep_id)
    visible = set(Customer.objects.visible_to(rep).values_list("pk", flat=True))
    assert visible == _reference_visible(rep)
    assert rep.owned_customers.exists()
    assert len(visible) < Customer.objects.count() // 2


def test_the_big_share_user_sees_the_group_share(seeded, db):
    from django.contrib.auth import get_user_model

    from crm.scale import BIG_SHARE_USER, SMALL
    from customers.models import Customer

    user = get_user_model().objects.get(username=BIG_SHARE_USER)
    visible = set(Customer.objects.visible_to(user).values_list("pk", flat=True))
    assert visible == _reference_visible(user)
    assert len(visible) >= SMALL.big_share


def test_a_provincial_manager_sees_the_province_subtree_and_not_another_province(seeded, db):
    from django.contrib.auth import get_user_model

    from customers.models import Customer
    from sharing.models import OrgUnit

    manager = get_user_model().objects.get(username="gd_manager")
    guangdong = OrgUnit.objects.get(code="GD")
    beijing = OrgUnit.objects.get(code="BJ")
    visible = Customer.objects.visible_to(manager)
    in_subtree = Customer.objects.filter(org_unit__path__startswith=guangdong.path)
    assert in_subtree.exists()
    assert set(in_subtree.values_list("pk", flat=True)) <= set(visible.values_list("pk", flat=True))
    beijing_ids = set(Customer.objects.filter(org_unit__path__startswith=beijing.path).values_list("pk", flat=True))
    assert beijing_ids
    assert set(visible.values_list("pk", flat=True)) & beijing_ids == _reference_visible(manager) & beijing_ids


def test_phones_are_stored_normalised_as_the_dedup_normaliser_does(seeded, db):
    from customers.models import ContactPoint
    from dedup.normalize import normalize_email, normalize_phone

    phones = ContactPoint.objects.filter(kind__in=["mobile", "landline"]).order_by("pk")[:500]
    assert all(cp.normalized == normalize_phone(cp.value) and cp.normalized.startswith("+86") for cp in phones)
    emails = ContactPoint.objects.filter(kind="email").order_by("pk")[:200]
    assert all(cp.normalized == normalize_email(cp.value) for cp in emails)


def test_about_five_percent_are_duplicates_sharing_a_phone_written_differently(seeded, db):
    from crm.scale import SMALL

    pairs = _rows(
        "SELECT count(*), count(*) FILTER (WHERE a.value <> b.value) FROM customers_contactpoint a "
        "JOIN customers_contactpoint b ON a.normalized = b.normalized AND a.customer_id < b.customer_id "
        "WHERE a.kind IN ('mobile', 'landline') AND b.kind = a.kind"
    )[0]
    assert pairs[0] >= SMALL.customers * SMALL.duplicate_ratio * 0.8
    assert pairs[1] >= pairs[0] * 0.9  # the same number, another format


def test_company_credit_codes_and_identity_numbers_pass_their_checksums(seeded, db):
    from customers.models import CompanyProfile, PersonProfile
    from customers.validators import is_valid_credit_code
    from dedup.normalize import is_valid_id_number

    codes = list(CompanyProfile.objects.exclude(credit_code="").values_list("credit_code", flat=True)[:300])
    assert codes and all(is_valid_credit_code(c) for c in codes)
    ids = list(PersonProfile.objects.exclude(id_number="").values_list("id_number", flat=True)[:300])
    assert ids and all(is_valid_id_number(i) for i in ids)


def test_running_again_without_reset_changes_nothing(seeded, db):
    from customers.models import Customer

    before = Customer.objects.count()
    out = io.StringIO()
    call_command("seed_scale", "--small", stdout=out)
    assert "--reset" in out.getvalue()
    assert Customer.objects.count() == before


def test_reset_reloads_with_fresh_numbers(seeded, db):
    from customers.models import Customer

    old_max = max(Customer.objects.values_list("number", flat=True))
    call_command("seed_scale", "--small", "--reset", "--customers", "500", "--activities", "500", stdout=io.StringIO())
    assert Customer.objects.count() == 500
    assert min(Customer.objects.values_list("number", flat=True)) > old_max


def test_negative_sizes_are_refused(db):
    with pytest.raises(CommandError):
        call_command("seed_scale", "--small", "--shares", "-1", stdout=io.StringIO())


def test_too_few_users_for_the_org_are_refused_with_the_minimum(db):
    from customers.models import Customer

    before = Customer.objects.count()
    with pytest.raises(CommandError, match="too few"):
        call_command("seed_scale", "--small", "--reset", "--users", "20", stdout=io.StringIO())
    assert Customer.objects.count() == before  # the reset was rolled back with the rest
