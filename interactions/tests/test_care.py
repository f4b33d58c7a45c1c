"""Care rules: birthdays, holidays and dormant customers at their boundaries, once per occasion, with consent."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from customers.models import PersonProfile
from customers.tests.factories import ContactPointFactory, CustomerFactory, PersonFactory
from interactions.campaign_models import CareRule, CareTouch, next_birthday
from interactions.care import care_rule_run, care_rules_run
from interactions.models import Activity
from interactions.tests.factories import OrderFactory
from sharing.models import Notification

pytestmark = pytest.mark.django_db

DAY = date(2026, 6, 1)


def person(owner, birth_date, consent=True, **kw):
    customer = PersonFactory(owner=owner, **kw)
    PersonProfile.objects.filter(customer=customer).update(birth_date=birth_date)
    ContactPointFactory(customer=customer, marketing_consent=consent)
    return customer


def rule(creator, **kw):
    obj = CareRule(created_by=creator, name=kw.pop("name", "生日关怀"), **kw)
    obj.full_clean()
    obj.save()
    return obj


def test_birthday_rule_acts_from_n_days_before_and_only_once(administrator, shenzhen_sales_rep):
    in_three = person(shenzhen_sales_rep, date(1980, 6, 4))
    in_four = person(shenzhen_sales_rep, date(1985, 6, 5))
    no_consent = person(shenzhen_sales_rep, date(1990, 6, 2), consent=False)
    birthday = rule(administrator, kind="birthday", days_before=3)

    run = care_rule_run(rule=birthday, day=DAY)
    assert set(run.touches.values_list("customer_id", flat=True)) == {in_three.pk}
    assert run.excluded_no_consent == 1
    activity = Activity.objects.get(customer=in_three)
    assert activity.user == shenzhen_sales_rep and activity.follow_up_on == DAY
    assert Notification.objects.filter(user=shenzhen_sales_rep, kind="care_task").count() == 1

    again = care_rule_run(rule=birthday, day=DAY)  # run twice: touched once
    assert again.pk == run.pk and again.touched == 1
    assert Activity.objects.filter(customer=in_three).count() == 1
    care_rule_run(rule=birthday, day=DAY + timedelta(days=1))  # the next day: in_four enters, in_three stays done
    assert set(CareTouch.objects.values_list("customer_id", flat=True)) == {in_three.pk, in_four.pk}
    assert not CareTouch.objects.filter(customer=no_consent).exists()


def test_leap_day_birthdays_are_celebrated_on_28_february():
    assert next_birthday(date(2000, 2, 29), date(2027, 2, 1)) == date(2027, 2, 28)
    assert next_birthday(date(2000, 2, 29), date(2028, 2, 1)) == date(2028, 2, 29)
    assert next_birthday(date(1990, 1, 5), date(2026, 12, 30)) == date(2027, 1, 5)


def test_holiday_rule_lists_key_customers_for_greetings_in_its_window(administrator, shenzhen_sales_rep):
    from customers.models import Tag

    key = Tag.objects.create(name="重点客户")
    a = CustomerFactory(owner=shenzhen_sales_rep)
    a.tags.add(key)
    ContactPointFactory(customer=a, marketing_consent=True)
    CustomerFactory(owner=shenzhen_sales_rep)  # not a key customer
    spring = rule(
        administrator,
        name="春节问候",
        kind="holiday",
        action="greeting_list",
        event_on=date(2027, 2, 6),
        days_before=7,
        customer_filter=f"tag={key.pk}",
    )
    assert care_rule_run(rule=spring, day=date(2027, 1, 29)).touched == 0  # 8 days before: not yet
    assert care_rule_run(rule=spring, day=date(2027, 1, 30)).touched == 1  # 7 days before
    assert care_rule_run(rule=spring, day=date(2027, 2, 1)).touched == 0  # already greeted for this holiday
    note = Notification.objects.get(user=shenzhen_sales_rep, kind="care_task")
    assert a.number in note.message
    assert not Activity.objects.exists()  # a greeting list, not tasks
    assert care_rule_run(rule=spring, day=date(2027, 2, 7)).touched == 0  # after the holiday


def test_dormant_rule_wakes_customers_without_an_order_for_n_days(administrator, shenzhen_sales_rep):
    quiet = CustomerFactory(owner=shenzhen_sales_rep)
    ContactPointFactory(customer=quiet, marketing_consent=True)
    OrderFactory(contract__quote__opportunity__customer=quiet, ordered_on=DAY - timedelta(days=90))
    busy = CustomerFactory(owner=shenzhen_sales_rep)
    ContactPointFactory(customer=busy, marketing_consent=True)
    OrderFactory(contract__quote__opportunity__customer=busy, ordered_on=DAY - timedelta(days=89))
    dormant = rule(administrator, name="90天未下单", kind="dormant", inactive_days=90)
    run = care_rule_run(rule=dormant, day=DAY)
    assert list(run.touches.values_list("customer_id", "occasion_on")) == [(quiet.pk, DAY)]
    assert care_rules_run(day=DAY) == 0  # the daily job: nothing new
    assert care_rules_run(day=DAY + timedelta(days=1)) == 1  # busy turns 90 days quiet


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "birthday", "days_before": 61}, "days_before"),
        ({"kind": "holiday", "days_before": 3}, "event_on"),
        ({"kind": "dormant"}, "inactive_days"),
        ({"kind": "dormant", "inactive_days": 3}, "inactive_days"),
        ({"kind": "birthday", "event_on": date(2027, 2, 6)}, "event_on"),
    ],
)
def test_impossible_schedules_are_refused(administrator, fields, field):
    with pytest.raises(ValidationError) as refused:
        rule(administrator, **fields)
    assert field in refused.value.message_dict


def test_an_empty_target_is_refused(administrator, shenzhen_sales_rep):
    CustomerFactory(owner=shenzhen_sales_rep)  # a company: no birthday
    with translation.override("en"):
        with pytest.raises(ValidationError) as refused:
            rule(administrator, kind="birthday", days_before=3)
        assert "target is empty" in str(refused.value)


def test_a_rule_only_reaches_customers_its_creator_can_see(
    guangdong_sales_manager, beijing_sales_rep, guangzhou_sales_rep
):
    person(beijing_sales_rep, date(1980, 6, 2))
    visible = person(guangzhou_sales_rep, date(1981, 6, 2))
    birthday = rule(guangdong_sales_manager, kind="birthday", days_before=3)
    run = care_rule_run(rule=birthday, day=DAY)
    assert list(run.touches.values_list("customer_id", flat=True)) == [visible.pk]
