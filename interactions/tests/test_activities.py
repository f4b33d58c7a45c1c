"""Activities and follow-ups: logging, the follow-up lists of a rep and a manager, ticking them off."""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from interactions.models import Activity
from interactions.selectors import followups_for_home, followups_for_user
from interactions.services import activity_create, activity_update, followup_done
from interactions.tests.factories import ActivityFactory

TODAY = timezone.localdate


def test_a_rep_logs_a_call_with_a_follow_up(shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    activity = activity_create(
        customer=customer,
        created_by=shenzhen_sales_rep,
        kind="call",
        subject="  询问报价进展 ",
        follow_up_on=TODAY() + timedelta(days=2),
    )
    assert activity.subject == "询问报价进展"
    assert activity.user == shenzhen_sales_rep
    assert activity.has_open_follow_up


def test_logging_an_activity_does_not_re_read_the_customer_and_users_it_was_given(shenzhen_sales_rep):
    """Django's full_clean would check each foreign key with a query; the instances were loaded."""
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    with CaptureQueriesContext(connection) as queries:
        activity_create(customer=customer, created_by=shenzhen_sales_rep, kind="call", subject="回访")
    fk_check = re.compile(r'^SELECT 1 AS "a" FROM "(\w+)" WHERE "\1"\."id" = \d+ LIMIT 1$')
    existence_checks = [q["sql"] for q in queries.captured_queries if fk_check.match(q["sql"])]
    assert existence_checks == []
    with pytest.raises(ValidationError) as exc:  # the other fields are still validated
        activity_create(customer=customer, created_by=shenzhen_sales_rep, kind="telepathy", subject="回访")
    assert "kind" in exc.value.message_dict


def test_an_activity_that_occurred_next_week_is_refused(shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    with pytest.raises(ValidationError) as exc:
        activity_create(
            customer=customer,
            created_by=shenzhen_sales_rep,
            subject="拜访",
            occurred_at=timezone.now() + timedelta(days=7),
        )
    assert "occurred_at" in exc.value.error_dict


def test_a_follow_up_in_the_past_is_refused(shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    with pytest.raises(ValidationError) as exc:
        activity_create(
            customer=customer, created_by=shenzhen_sales_rep, subject="拜访", follow_up_on=TODAY() - timedelta(days=1)
        )
    assert "follow_up_on" in exc.value.error_dict


def test_an_empty_subject_is_refused(shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    with pytest.raises(ValidationError):
        activity_create(customer=customer, created_by=shenzhen_sales_rep, subject="   ")


def test_nobody_logs_on_a_customer_they_cannot_see(shenzhen_sales_rep, guangzhou_sales_rep):
    customer = CustomerFactory(owner=guangzhou_sales_rep)
    with pytest.raises(PermissionDenied):
        activity_create(customer=customer, created_by=shenzhen_sales_rep, subject="拜访")


def test_a_service_agent_logs_on_any_customer_but_an_auditor_on_none(service_agent, auditor, guangzhou_sales_rep):
    customer = CustomerFactory(owner=guangzhou_sales_rep)
    assert activity_create(customer=customer, created_by=service_agent, subject="客户来电咨询")
    with pytest.raises(PermissionDenied):
        activity_create(customer=customer, created_by=auditor, subject="审计")


def test_changing_the_follow_up_date_reopens_the_follow_up(shenzhen_sales_rep):
    activity = ActivityFactory(
        customer=CustomerFactory(owner=shenzhen_sales_rep), follow_up_on=TODAY(), follow_up_done=True
    )
    updated = activity_update(
        activity=activity,
        updated_by=shenzhen_sales_rep,
        subject=activity.subject,
        kind="visit",
        follow_up_on=TODAY() + timedelta(days=3),
    )
    assert updated.kind == "visit" and not updated.follow_up_done


def test_only_the_author_edits_an_activity(shenzhen_sales_rep, guangdong_sales_manager):
    activity = ActivityFactory(customer=CustomerFactory(owner=shenzhen_sales_rep))
    with pytest.raises(PermissionDenied):
        activity_update(activity=activity, updated_by=guangdong_sales_manager, subject="改", kind="call")


# --- follow-up lists ------------------------------------------------------------------------------


@pytest.fixture
def followup_world(shenzhen_sales_rep, guangzhou_sales_rep, beijing_sales_rep, guangdong_sales_manager):
    today = TODAY()
    sz = CustomerFactory(owner=shenzhen_sales_rep)
    gz = CustomerFactory(owner=guangzhou_sales_rep)
    bj = CustomerFactory(owner=beijing_sales_rep)
    return {
        "sz_overdue": ActivityFactory(customer=sz, subject="深圳逾期", follow_up_on=today - timedelta(days=3)),
        "sz_today": ActivityFactory(customer=sz, subject="深圳今天", follow_up_on=today),
        "sz_later": ActivityFactory(customer=sz, subject="深圳下周", follow_up_on=today + timedelta(days=7)),
        "sz_done": ActivityFactory(customer=sz, subject="深圳已完成", follow_up_on=today, follow_up_done=True),
        "gz_today": ActivityFactory(customer=gz, subject="广州今天", follow_up_on=today),
        "bj_today": ActivityFactory(customer=bj, subject="北京今天", follow_up_on=today),
    }


def test_a_rep_sees_own_follow_ups_due_today_and_overdue_overdue_first(shenzhen_sales_rep, followup_world):
    items = list(followups_for_user(user=shenzhen_sales_rep))
    assert items == [followup_world["sz_overdue"], followup_world["sz_today"]]


def test_a_manager_sees_the_teams_follow_ups_and_can_narrow_to_one_person(
    guangdong_sales_manager, guangzhou_sales_rep, followup_world
):
    team = set(followups_for_user(user=guangdong_sales_manager))
    assert team == {followup_world["sz_overdue"], followup_world["sz_today"], followup_world["gz_today"]}
    one = list(followups_for_user(user=guangdong_sales_manager, person_id=guangzhou_sales_rep.pk))
    assert one == [followup_world["gz_today"]]


def test_a_manager_does_not_see_a_sibling_provinces_follow_ups(beijing_sales_manager, followup_world):
    assert list(followups_for_user(user=beijing_sales_manager)) == [followup_world["bj_today"]]


def test_the_home_panel_counts_and_lists_own_follow_ups(shenzhen_sales_rep, followup_world):
    home = followups_for_home(shenzhen_sales_rep)
    assert home["due_today"] == 1 and home["overdue"] == 1
    assert home["items"] == [followup_world["sz_overdue"], followup_world["sz_today"]]
    assert home["url"] == reverse("interactions:followups")


def test_the_follow_ups_page_lists_and_marks_done_inline(client_for, shenzhen_sales_rep, followup_world):
    client = client_for(shenzhen_sales_rep)
    page = client.get(reverse("interactions:followups")).content.decode()
    assert page.index("深圳逾期") < page.index("深圳今天")
    assert "深圳下周" not in page and "广州今天" not in page

    target = followup_world["sz_today"]
    response = client.post(reverse("interactions:followup_done", args=[target.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'id="followup-{target.pk}"' in response.content.decode()
    assert "<html" not in response.content.decode()
    target.refresh_from_db()
    assert target.follow_up_done and target.follow_up_done_at is not None


def test_the_follow_ups_page_shows_a_manager_the_person_filter(
    client_for, guangdong_sales_manager, guangzhou_sales_rep, beijing_sales_rep, followup_world
):
    guangzhou_sales_rep.first_name = "<广州>"
    guangzhou_sales_rep.save()
    client = client_for(guangdong_sales_manager)
    page = client.get(reverse("interactions:followups")).content.decode()
    assert 'name="person"' in page and "广州今天" in page and "北京今天" not in page
    # Team members as options (escaped), nobody from another province.
    assert f'<option value="{guangzhou_sales_rep.pk}">&lt;广州&gt;' in page
    assert f'value="{beijing_sales_rep.pk}"' not in page
    narrowed = client.get(reverse("interactions:followups"), {"person": guangzhou_sales_rep.pk}).content.decode()
    assert f'<option value="{guangzhou_sales_rep.pk}" selected>' in narrowed
    assert "广州今天" in narrowed and "深圳今天" not in narrowed


def test_the_managers_person_filter_comes_from_the_cache_and_follows_the_team(
    client_for, org, guangdong_sales_manager, beijing_sales_manager, guangzhou_sales_rep, beijing_sales_rep
):
    from django.contrib.auth import get_user_model

    from sharing.models import Membership

    client = client_for(guangdong_sales_manager)
    client.get(reverse("interactions:followups"))
    guangdong_sales_manager.save()  # a saved user voids the cached directory options
    with CaptureQueriesContext(connection) as cold:
        client.get(reverse("interactions:followups"))
    with CaptureQueriesContext(connection) as warm:
        page = client.get(reverse("interactions:followups")).content.decode()
    assert len(warm) == len(cold) - 1  # the team's options came from the cache
    assert f'value="{guangzhou_sales_rep.pk}"' in page and f'value="{beijing_sales_rep.pk}"' not in page
    # Another province's manager never gets Guangdong's cached team.
    beijing = client_for(beijing_sales_manager).get(reverse("interactions:followups")).content.decode()
    assert f'value="{beijing_sales_rep.pk}"' in beijing and f'value="{guangzhou_sales_rep.pk}"' not in beijing

    client = client_for(guangdong_sales_manager)
    newcomer = get_user_model().objects.create_user("gz_newcomer", first_name="新人")
    Membership.objects.create(user=newcomer, unit=org["GD-GZ"])
    assert f'<option value="{newcomer.pk}">新人 · ' in client.get(reverse("interactions:followups")).content.decode()
    moved = Membership.objects.get(user=guangzhou_sales_rep)
    moved.unit = org["BJ"]
    moved.save()
    assert f'value="{guangzhou_sales_rep.pk}"' not in client.get(reverse("interactions:followups")).content.decode()


def test_the_follow_ups_page_query_count_does_not_grow_with_rows(
    client_for, guangdong_sales_manager, shenzhen_sales_rep, django_assert_max_num_queries
):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ActivityFactory(customer=customer, follow_up_on=TODAY())
    client = client_for(guangdong_sales_manager)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("interactions:followups"))
    for _ in range(30):
        ActivityFactory(customer=CustomerFactory(owner=shenzhen_sales_rep), follow_up_on=TODAY())
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("interactions:followups"))
    assert response.content.decode().count('data-testid="followup-row"') == 31


def test_marking_a_follow_up_done_twice_changes_nothing(shenzhen_sales_rep, followup_world):
    first = followup_done(activity=followup_world["sz_today"], done_by=shenzhen_sales_rep)
    second = followup_done(activity=first, done_by=shenzhen_sales_rep)
    assert second.follow_up_done_at == first.follow_up_done_at


def test_marking_done_someone_elses_hidden_follow_up_is_404(client_for, beijing_sales_rep, followup_world):
    target = followup_world["sz_today"]
    response = client_for(beijing_sales_rep).post(reverse("interactions:followup_done", args=[target.pk]))
    assert response.status_code == 404
    target.refresh_from_db()
    assert not target.follow_up_done


# --- the add-activity form on the 360 page ---------------------------------------------------------


def test_logging_an_activity_with_htmx_returns_the_refreshed_timeline(client_for, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    client = client_for(shenzhen_sales_rep)
    response = client.post(
        reverse("interactions:activity_create", args=[customer.pk]),
        {"kind": "visit", "subject": "上门演示新产品", "notes": "客户很感兴趣"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "上门演示新产品" in body and 'hx-swap-oob="true"' in body
    assert Activity.objects.filter(customer=customer, subject="上门演示新产品").exists()


def test_a_rejected_htmx_activity_comes_back_as_the_form_with_what_was_typed(client_for, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    future = (timezone.localtime() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    response = client_for(shenzhen_sales_rep).post(
        reverse("interactions:activity_create", args=[customer.pk]),
        {"kind": "call", "subject": "下周的电话", "occurred_at": future},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response["HX-Retarget"] == "#activity-form-region"
    assert "下周的电话" in body and "field__errors" in body
    assert not Activity.objects.filter(customer=customer).exists()


def test_logging_an_activity_without_htmx_redirects_back(client_for, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    response = client_for(shenzhen_sales_rep).post(
        reverse("interactions:activity_create", args=[customer.pk]), {"kind": "note", "subject": "备注"}
    )
    assert response.status_code == 302
    assert Activity.objects.filter(customer=customer).count() == 1


def test_the_author_edits_an_activity_on_its_page(client_for, shenzhen_sales_rep):
    activity = ActivityFactory(customer=CustomerFactory(owner=shenzhen_sales_rep), subject="旧主题")
    client = client_for(shenzhen_sales_rep)
    url = reverse("interactions:activity_edit", args=[activity.pk])
    assert "旧主题" in client.get(url).content.decode()
    response = client.post(url, {"kind": "email", "subject": "新主题"})
    assert response.status_code == 302
    activity.refresh_from_db()
    assert activity.subject == "新主题" and activity.kind == "email"
