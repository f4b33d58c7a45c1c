"""Account teams, assignment rules, bulk reassignment and the public pool (issue #10)."""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from customers.assignment import assign_owner, customers_reassign
from customers.models import Customer
from customers.pool import AlreadyClaimed, pool_claim, pool_run
from customers.services import CustomerInput, customer_create
from customers.team_models import AccountTeamMember, AssignmentRule, CustomerMove, PoolPolicy, TeamRole
from customers.teams import team_member_add, team_member_remove, team_roles_ensure
from customers.tests.factories import ContactPointFactory, CustomerFactory
from sharing.models import CustomerUserShare
from sharing.principal import forget_principal
from sharing.services import shares_expire

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    """Messages are matched in English; the site's default language is Chinese (now translated)."""
    with translation.override("en"):
        yield


def visible(user, customer, action="view") -> bool:
    forget_principal(user)
    return Customer.objects.visible_to(user, action=action).filter(pk=customer.pk).exists()


@pytest.fixture
def roles(db):
    team_roles_ensure()
    return {r.code: r for r in TeamRole.objects.all()}


def make_rep(username, unit, org):
    from django.contrib.auth import get_user_model

    from crm.demo import role_group
    from sharing.models import Membership

    user = get_user_model().objects.create_user(username, password="pw", first_name=username)
    user.groups.add(role_group("sales_rep"))
    Membership.objects.create(user=user, unit=unit)
    return user


# --- account teams


def test_a_team_member_sees_the_customer_through_the_membership_share_until_removed(
    guangdong_sales_manager, guangzhou_sales_rep, shenzhen_sales_rep, roles
):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    assert not visible(guangzhou_sales_rep, customer)
    member = team_member_add(
        customer=customer,
        user=guangzhou_sales_rep,
        team_role=roles["service_engineer"],
        access="view",
        added_by=guangdong_sales_manager,
    )
    assert visible(guangzhou_sales_rep, customer)
    assert not visible(guangzhou_sales_rep, customer, "change")
    assert member.share.user_id == guangzhou_sales_rep.pk
    assert CustomerMove.objects.filter(customer=customer, kind="team_added", to_user=guangzhou_sales_rep).exists()

    team_member_remove(member=member, removed_by=guangdong_sales_manager)
    assert not visible(guangzhou_sales_rep, customer)
    assert not AccountTeamMember.objects.exists() and not CustomerUserShare.objects.exists()
    assert CustomerMove.objects.filter(customer=customer, kind="team_removed", from_user=guangzhou_sales_rep).exists()


def test_change_access_lets_the_member_edit_and_expiry_ends_it(
    guangdong_sales_manager, guangzhou_sales_rep, shenzhen_sales_rep, roles
):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    soon = timezone.now() + timedelta(hours=1)
    team_member_add(
        customer=customer,
        user=guangzhou_sales_rep,
        team_role=roles["sales_rep"],
        access="change",
        added_by=guangdong_sales_manager,
        expires_at=soon,
    )
    assert visible(guangzhou_sales_rep, customer, "change")
    # After the expiry visible_to ignores the share at once; the beat task then removes share and membership.
    later = soon + timedelta(seconds=1)
    CustomerUserShare.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert not visible(guangzhou_sales_rep, customer)
    shares_expire(now=later)
    assert not AccountTeamMember.objects.exists()


def test_only_managers_change_teams_and_bad_members_get_clear_messages(
    guangdong_sales_manager, guangzhou_sales_rep, shenzhen_sales_rep, roles
):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    with pytest.raises(PermissionDenied):
        team_member_add(
            customer=customer,
            user=guangzhou_sales_rep,
            team_role=roles["sales_rep"],
            access="view",
            added_by=shenzhen_sales_rep,
        )
    guangzhou_sales_rep.is_active = False
    guangzhou_sales_rep.save()
    with pytest.raises(ValidationError, match="deactivated"):
        team_member_add(
            customer=customer,
            user=guangzhou_sales_rep,
            team_role=roles["sales_rep"],
            access="view",
            added_by=guangdong_sales_manager,
        )
    with pytest.raises(ValidationError, match="owns this customer"):
        team_member_add(
            customer=customer,
            user=shenzhen_sales_rep,
            team_role=roles["sales_rep"],
            access="view",
            added_by=guangdong_sales_manager,
        )


def test_the_360_page_and_the_access_page_show_the_team_role(
    client_for, guangdong_sales_manager, guangzhou_sales_rep, shenzhen_sales_rep, roles
):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    client = client_for(guangdong_sales_manager)
    response = client.post(
        reverse("teams:team_add", args=[customer.pk]),
        {"user": guangzhou_sales_rep.pk, "team_role": roles["finance_contact"].pk, "access": "view"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert 'data-member="gz_rep"' in response.content.decode()
    page = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "account-team" in page and 'data-member="gz_rep"' in page
    access = client.get(reverse("sharing:customer_access", args=[customer.pk])).content.decode()
    assert 'data-testid="team-role"' in access
    # The rep (no manager flag) sees the team but cannot add to it: the endpoint answers 404.
    rep = client_for(shenzhen_sales_rep)
    assert "team-add-form" not in rep.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert rep.post(reverse("teams:team_add", args=[customer.pk]), {}).status_code == 404


# --- assignment rules


@pytest.fixture
def sz_reps(org, shenzhen_sales_rep):
    return [shenzhen_sales_rep, make_rep("sz_rep2", org["GD-SZ"], org), make_rep("sz_rep3", org["GD-SZ"], org)]


def unowned(**kw):
    industry = kw.pop("industry", "")
    size = kw.pop("size", "")
    customer = CustomerFactory(owner=None, org_unit=None, **kw)
    customer.company.industry, customer.company.size = industry, size
    customer.company.save()
    return customer


@pytest.mark.parametrize(
    ("condition", "match", "miss"),
    [
        ({"provinces": "广东"}, {"province": "广东省"}, {"province": "北京市"}),
        ({"cities": "深圳"}, {"city": "深圳市"}, {"city": "广州市"}),
        ({"industries": "制造业, 零售"}, {"industry": "零售"}, {"industry": "金融"}),
        ({"sources": "web"}, {"source": "web"}, {"source": "import"}),
        ({"sizes": "large"}, {"size": "large"}, {"size": "small"}),
    ],
)
def test_each_rule_type_fires_on_its_condition_only(org, sz_reps, condition, match, miss):
    rule = AssignmentRule.objects.create(name="r", target_unit=org["GD-SZ"], **condition)
    hit = assign_owner(customer=unowned(**match))
    assert hit.rule == rule and hit.owner in sz_reps
    hit.customer.refresh_from_db()
    assert hit.customer.assignment_rule_id == rule.pk and hit.customer.assigned_at is not None
    assert hit.customer.org_unit_id == org["GD-SZ"].pk
    assert CustomerMove.objects.filter(customer=hit.customer, kind="rule_assigned", rule=rule).exists()
    other = assign_owner(customer=unowned(**miss))
    assert other.rule is None and other.pooled  # no rule: the pool, never ownerless and poolless
    other.customer.refresh_from_db()
    assert other.customer.owner_id is None and other.customer.pooled_at is not None


def test_round_robin_spreads_evenly_over_many_assignments(org, sz_reps):
    AssignmentRule.objects.create(name="rr", target_unit=org["GD-SZ"], strategy="round_robin")
    owners = [assign_owner(customer=unowned()).owner.pk for _ in range(30)]
    counts = {rep.pk: owners.count(rep.pk) for rep in sz_reps}
    assert set(counts.values()) == {10}
    assert owners[:3] == sorted(rep.pk for rep in sz_reps)  # in id order, wrapping


def test_least_loaded_fills_up_the_emptiest_rep_first(org, sz_reps):
    for _ in range(5):
        CustomerFactory(owner=sz_reps[0])
    CustomerFactory(owner=sz_reps[1])
    AssignmentRule.objects.create(name="ll", target_unit=org["GD-SZ"], strategy="least_loaded")
    owners = [assign_owner(customer=unowned()).owner.pk for _ in range(24)]
    loads = {rep.pk: Customer.objects.filter(owner=rep).count() for rep in sz_reps}
    assert sorted(loads.values()) == [10, 10, 10]
    assert owners[0] == sz_reps[2].pk  # the empty one first
    assert sz_reps[0].pk not in owners[:9]  # the busy one only once the others caught up


def test_a_rule_pointing_at_a_unit_without_reps_pools_the_customer_with_a_message(org):
    AssignmentRule.objects.create(name="empty", target_unit=org["ZJ-HZ"])
    outcome = assign_owner(customer=unowned())
    assert outcome.pooled and "no active sales reps" in outcome.message
    outcome.customer.refresh_from_db()
    assert outcome.customer.org_unit_id == org["ZJ-HZ"].pk and outcome.customer.pooled_at is not None


def test_web_form_creation_uses_the_rules(org, sz_reps):
    AssignmentRule.objects.create(name="web", target_unit=org["GD-SZ"], sources="web")
    customer = customer_create(
        data=CustomerInput(kind="company", name="网页线索有限公司", source="web"), created_by=None, assign_by_rules=True
    )
    assert customer.owner in sz_reps and customer.assignment_rule is not None


def test_bulk_reassignment_spreads_a_leavers_customers_and_keeps_the_old_owner(org, sz_reps, guangdong_sales_manager):
    leaver = sz_reps[0]
    customers = [CustomerFactory(owner=leaver) for _ in range(6)]
    leaver.is_active = False
    leaver.save()
    result = customers_reassign(from_user=leaver, unit=org["GD-SZ"], by=guangdong_sales_manager, reason="left")
    assert result.moved == 6 and result.left == 0
    assert sorted(result.per_user.values()) == [3, 3]
    for customer in customers:
        customer.refresh_from_db()
        assert customer.owner_id in (sz_reps[1].pk, sz_reps[2].pk)
        assert CustomerMove.objects.get(customer=customer, kind="reassigned").from_user_id == leaver.pk
    with pytest.raises(PermissionDenied):
        customers_reassign(from_user=sz_reps[1], to_user=sz_reps[2], by=sz_reps[2])


# --- the pool job


def owned_customer(owner, *, age_days, activity_days=None):
    from interactions.models import Activity

    customer = CustomerFactory(owner=owner)
    Customer.objects.filter(pk=customer.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    if activity_days is not None:
        Activity.objects.create(
            customer=customer, subject="call", occurred_at=timezone.now() - timedelta(days=activity_days), user=owner
        )
    return Customer.objects.get(pk=customer.pk)


def test_inactivity_boundaries_warning_and_idempotent_return(org, shenzhen_sales_rep):
    from sharing.models import Notification

    PoolPolicy.objects.create(unit=org["GD"], inactive_days=30, warn_days=3)
    now = timezone.now()
    fresh = owned_customer(shenzhen_sales_rep, age_days=60, activity_days=26)  # 26 days: nothing yet
    warned = owned_customer(shenzhen_sales_rep, age_days=60, activity_days=28)  # inside the warning window
    almost = owned_customer(shenzhen_sales_rep, age_days=60)
    from interactions.models import Activity

    Activity.objects.filter(customer=almost).delete()
    Activity.objects.create(customer=almost, subject="x", occurred_at=now - timedelta(days=30) + timedelta(minutes=5))
    due = owned_customer(shenzhen_sales_rep, age_days=60, activity_days=31)
    busy = owned_customer(shenzhen_sales_rep, age_days=90)  # no activity but an open opportunity
    from interactions.models import Opportunity

    Opportunity.objects.create(customer=busy, name="deal", owner=shenzhen_sales_rep, created_by=shenzhen_sales_rep)

    # The night before the warning window of `due` ended, the job ran and warned its owner.
    eve = pool_run(now=now - timedelta(days=3))
    assert (eve.returned, eve.warned) == (0, 1)

    first = pool_run(now=now)
    states = {c.pk: Customer.objects.get(pk=c.pk) for c in (fresh, warned, almost, due, busy)}
    assert states[due.pk].owner_id is None and states[due.pk].pooled_at is not None
    assert states[due.pk].org_unit_id == org["GD-SZ"].pk  # the unit is kept
    for c in (fresh, warned, almost, busy):
        assert states[c.pk].owner_id == shenzhen_sales_rep.pk
    assert first.returned == 1 and first.warned == 2  # `warned` and `almost` (returns in 5 minutes)
    assert CustomerMove.objects.filter(kind="pool_warned", customer=warned).count() == 1
    notes = Notification.objects.filter(user=shenzhen_sales_rep).count()
    assert notes == 3  # `due` the night before, `warned` and `almost` tonight

    again = pool_run(now=now)  # the same night again: nothing new
    assert (again.returned, again.warned) == (0, 0)
    assert Notification.objects.filter(user=shenzhen_sales_rep).count() == notes
    assert CustomerMove.objects.filter(kind="pool_returned").count() == 1

    # Exactly 30 days after the last activity the customer returns (warned 3 days before, above).
    later = pool_run(now=now + timedelta(minutes=5))
    assert later.returned == 0  # due, but warned only 5 minutes ago: it gets its 3 days
    assert Customer.objects.get(pk=almost.pk).pooled_at is None
    assert pool_run(now=now + timedelta(days=3)).returned == 2  # `almost` and `warned`
    assert Customer.objects.get(pk=almost.pk).pooled_at is not None


def test_a_due_customer_never_warned_is_warned_first_and_returns_warn_days_later(org, shenzhen_sales_rep):
    """The first run after deployment (or after a night without the job) must not pool customers
    whose owners were never told: it warns, and returns them only `warn_days` later."""
    from sharing.models import Notification

    PoolPolicy.objects.create(unit=org["GD"], inactive_days=30, warn_days=3)
    now = timezone.now()
    idle = owned_customer(shenzhen_sales_rep, age_days=200, activity_days=120)
    first = pool_run(now=now)
    assert (first.returned, first.warned) == (0, 1)  # warned instead of returned
    assert Customer.objects.get(pk=idle.pk).owner_id == shenzhen_sales_rep.pk
    assert CustomerMove.objects.filter(kind="pool_warned", customer=idle).count() == 1
    assert Notification.objects.filter(user=shenzhen_sales_rep).count() == 1
    assert pool_run(now=now + timedelta(days=2, hours=23)).returned == 0
    assert pool_run(now=now + timedelta(days=3)).returned == 1
    assert Customer.objects.get(pk=idle.pk).pooled_at is not None
    assert Notification.objects.filter(user=shenzhen_sales_rep).count() == 1  # never warned twice


def test_owner_less_customers_end_up_in_a_pool(org):
    orphan = CustomerFactory(owner=None, org_unit=org["BJ-CY"])
    assert pool_run().orphans == 1
    orphan.refresh_from_db()
    assert orphan.pooled_at is not None and orphan.org_unit_id == org["BJ-CY"].pk


# --- claims


def pooled(unit, *, previous_owner=None, days_ago=0):
    customer = CustomerFactory(owner=None, org_unit=unit)
    when = timezone.now() - timedelta(days=days_ago)
    Customer.objects.filter(pk=customer.pk).update(pooled_at=when)
    if previous_owner:
        CustomerMove.objects.create(customer=customer, kind="pool_returned", from_user=previous_owner, created_at=when)
    return Customer.objects.get(pk=customer.pk)


def test_a_claim_makes_the_rep_owner_and_a_second_claim_is_told_who_won(org, sz_reps):
    customer = pooled(org["GD-SZ"])
    pool_claim(customer=customer, user=sz_reps[1])
    customer.refresh_from_db()
    assert customer.owner_id == sz_reps[1].pk and customer.pooled_at is None and customer.owner_via == "claim"
    with pytest.raises(AlreadyClaimed, match="sz_rep2"):
        pool_claim(customer=customer, user=sz_reps[2])


def test_claim_limit_and_cooldown(org, sz_reps):
    PoolPolicy.objects.create(unit=org["GD-SZ"], claim_limit=2, cooldown_days=10, inactive_days=30, warn_days=3)
    rep = sz_reps[1]
    for _ in range(2):
        pool_claim(customer=pooled(org["GD-SZ"]), user=rep)
    with pytest.raises(ValidationError, match="limit is 2"):
        pool_claim(customer=pooled(org["GD-SZ"]), user=rep)

    fell_back = pooled(org["GD-SZ"], previous_owner=sz_reps[2], days_ago=9)
    with pytest.raises(ValidationError, match="claim it again from"):
        pool_claim(customer=fell_back, user=sz_reps[2])
    old = pooled(org["GD-SZ"], previous_owner=sz_reps[2], days_ago=11)
    pool_claim(customer=old, user=sz_reps[2])  # the cool-down is over


def test_only_reps_of_the_unit_claim_and_see_the_pool_masked(client_for, org, sz_reps, guangzhou_sales_rep):
    customer = pooled(org["GD-SZ"])
    ContactPointFactory(customer=customer, value="13800138000")
    rep = client_for(sz_reps[1])
    page = rep.get(reverse("teams:pool")).content.decode()
    assert customer.name in page and "138****8000" in page and "13800138000" not in page
    assert customer.get_absolute_url() not in page  # no 360 page through the pool
    assert rep.get(customer.get_absolute_url()).status_code == 404
    other = client_for(guangzhou_sales_rep)
    assert customer.name not in other.get(reverse("teams:pool")).content.decode()
    assert other.post(reverse("teams:pool_claim", args=[customer.pk])).status_code == 404


def test_a_manager_assigns_from_the_pool(client_for, org, sz_reps, guangdong_sales_manager):
    customer = pooled(org["GD-SZ"])
    client = client_for(guangdong_sales_manager)
    response = client.post(reverse("teams:pool_assign", args=[customer.pk]), {"to_user": sz_reps[2].pk})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.owner_id == sz_reps[2].pk
    move = CustomerMove.objects.get(customer=customer, kind="pool_assigned")
    assert move.by_id == guangdong_sales_manager.pk


def test_pool_moves_are_on_the_customers_timeline(org, sz_reps, guangdong_sales_manager):
    from interactions.selectors import customer_timeline

    customer = pooled(org["GD-SZ"], previous_owner=sz_reps[0])
    pool_claim(customer=customer, user=sz_reps[1])
    entries = customer_timeline(customer=customer, user=guangdong_sales_manager).object_list
    kinds = [e.subkind for e in entries if e.kind == "account"]
    assert str(CustomerMove.Kind.POOL_CLAIMED.label) in kinds and str(CustomerMove.Kind.POOL_RETURNED.label) in kinds


def test_timeline_names_the_person_of_each_move(org, sz_reps, guangdong_sales_manager, guangzhou_sales_rep, roles):
    """Team joins and leaves name the member (not a blank "from"/"to"); a user without a full name is
    shown by user name; a reassignment shows "old → new"."""
    from interactions.selectors import customer_timeline

    customer = CustomerFactory(owner=sz_reps[0])
    member = team_member_add(
        customer=customer,
        user=guangzhou_sales_rep,
        team_role=roles["service_engineer"],
        access="view",
        added_by=guangdong_sales_manager,
    )
    team_member_remove(member=member, removed_by=guangdong_sales_manager)
    nameless = make_rep("sz_nameless", org["GD-SZ"], org)
    nameless.first_name = ""
    nameless.save()
    customers_reassign(from_user=sz_reps[0], to_user=nameless, by=guangdong_sales_manager)

    entries = customer_timeline(customer=customer, user=guangdong_sales_manager).object_list
    titles = {e.subkind: e.title for e in entries if e.kind == "account"}
    member_name = guangzhou_sales_rep.get_full_name()
    assert titles[str(CustomerMove.Kind.TEAM_ADDED.label)] == member_name
    assert titles[str(CustomerMove.Kind.TEAM_REMOVED.label)] == member_name
    assert titles[str(CustomerMove.Kind.REASSIGNED.label)] == f"{sz_reps[0].get_full_name()} → sz_nameless"


def test_timeline_names_the_old_owner_of_a_return_and_the_claimer(org, sz_reps, guangdong_sales_manager):
    from interactions.selectors import customer_timeline

    customer = pooled(org["GD-SZ"], previous_owner=sz_reps[0], days_ago=1)
    pool_claim(customer=customer, user=sz_reps[1])
    entries = customer_timeline(customer=customer, user=guangdong_sales_manager).object_list
    titles = {e.subkind: e.title for e in entries if e.kind == "account"}
    assert titles[str(CustomerMove.Kind.POOL_RETURNED.label)] == sz_reps[0].get_full_name()
    assert titles[str(CustomerMove.Kind.POOL_CLAIMED.label)] == "sz_rep2"  # make_rep: first name only


def test_the_team_forms_fast_options_match_the_fields_labels(org, shenzhen_sales_rep, guangzhou_sales_rep):
    """The person picker renders its options from values_list (speed at 2,000 staff): same values and
    labels as ModelChoiceField would give, and validation still goes through the queryset."""
    from django.contrib.auth import get_user_model

    from customers.team_forms import PoolAssignForm

    guangzhou_sales_rep.first_name = "<小李>"
    guangzhou_sales_rep.save()
    users = get_user_model().objects.filter(membership__isnull=False).select_related("membership__unit").order_by("pk")
    form = PoolAssignForm(users=users)
    field = form.fields["to_user"]
    fast = [(str(value), label) for value, label in field.widget.choices]
    slow = [("", field.empty_label)] + [(str(u.pk), field.label_from_instance(u)) for u in users]
    assert fast == slow and len(fast) > 2
    html = str(form["to_user"])
    assert "&lt;小李&gt;" in html and "<小李>" not in html
    assert PoolAssignForm({"to_user": shenzhen_sales_rep.pk}, users=users).is_valid()
    assert not PoolAssignForm({"to_user": 987654}, users=users).is_valid()


def test_the_team_forms_person_search_offers_only_candidates(
    client_for,
    org,
    guangdong_sales_manager,
    shenzhen_sales_rep,
    guangzhou_sales_rep,
    beijing_sales_rep,
    roles,
    django_assert_max_num_queries,
):
    """The person is picked through a search (teams:team_candidates), not a <select> of every staff
    member: only active staff with a home unit who are neither the owner nor in the team, matched by
    name, username or unit, at most ten, escaped; only managers may ask."""
    from django.contrib.auth import get_user_model

    from sharing.models import Membership

    customer = CustomerFactory(owner=shenzhen_sales_rep)
    url = reverse("teams:team_candidates", args=[customer.pk])
    client = client_for(guangdong_sales_manager)

    def found(text):
        response = client.get(url, {"user_search": text}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        return {int(v) for v in re.findall(r'data-value="(\d+)"', response.content.decode())}, response

    assert found("gz_rep")[0] == {guangzhou_sales_rep.pk}
    assert shenzhen_sales_rep.pk not in found("sz_rep")[0]  # the owner is not a candidate
    by_unit, _ = found(beijing_sales_rep.membership.unit.name)
    assert beijing_sales_rep.pk in by_unit and guangzhou_sales_rep.pk not in by_unit
    empty, response = found("nobody-like-this")
    assert empty == set() and "autocomplete__empty" in response.content.decode()
    assert client.get(url).content.decode().strip() == ""  # nothing typed, nothing listed

    guangzhou_sales_rep.first_name = "<小李>"
    guangzhou_sales_rep.save()
    html = found("小李")[1].content.decode()
    assert "&lt;小李&gt;" in html and "<小李>" not in html

    team_member_add(
        customer=customer,
        user=beijing_sales_rep,
        team_role=roles["sales_rep"],
        access="view",
        added_by=guangdong_sales_manager,
    )
    assert beijing_sales_rep.pk not in found("bj_rep")[0]  # already in the team
    newcomer = get_user_model().objects.create_user("newcomer_rep")
    assert found("newcomer")[0] == set()  # no home unit
    Membership.objects.create(user=newcomer, unit=org["GD-GZ"])
    assert found("newcomer")[0] == {newcomer.pk}
    newcomer.is_active = False
    newcomer.save()
    assert found("newcomer")[0] == set()

    for i in range(12):
        make_rep(f"many_rep{i}", org["GD-GZ"], org)
    with django_assert_max_num_queries(8):
        assert len(found("many_rep")[0]) == 10

    # A rep (no manager flag) and a manager of another province cannot search this customer's team.
    assert client_for(shenzhen_sales_rep).get(url, {"user_search": "gz"}).status_code == 404
    assert client_for(beijing_sales_rep).get(url, {"user_search": "gz"}).status_code == 404


def test_the_360_page_has_a_person_search_not_every_staff_member(
    client_for, org, guangdong_sales_manager, shenzhen_sales_rep, guangzhou_sales_rep, beijing_sales_rep, roles
):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    client = client_for(guangdong_sales_manager)
    page = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    form = page[page.index('data-testid="team-add-form"') :]
    form = form[: form.index("</form>")]
    assert 'data-testid="team-user-search"' in form and 'type="hidden" name="user"' in form
    assert f'value="{beijing_sales_rep.pk}"' not in form and '<select name="user"' not in form
    assert "customers/customers.js" in page

    # A rejected post keeps the picked person in the search box and says what is wrong.
    add = reverse("teams:team_add", args=[customer.pk])
    response = client.post(add, {"user": guangzhou_sales_rep.pk, "access": "view"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert f'value="{guangzhou_sales_rep.pk}"' in html and "gz_rep" in html  # hidden value and label
    assert 'data-member="gz_rep"' not in html
    response = client.post(add, {"team_role": roles["sales_rep"].pk, "access": "view"}, HTTP_HX_REQUEST="true")
    with translation.override(response.headers["Content-Language"]):
        assert translation.gettext("Search for a person and pick one of the suggestions.") in response.content.decode()
    # The owner cannot be posted in by hand either: the field validates against the candidates.
    response = client.post(
        add,
        {"user": shenzhen_sales_rep.pk, "team_role": roles["sales_rep"].pk, "access": "view"},
        HTTP_HX_REQUEST="true",
    )
    assert 'data-member="sz_rep"' not in response.content.decode()
