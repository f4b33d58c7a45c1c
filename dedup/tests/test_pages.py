"""The steward pages: review queue, comparison with merge and decision, merges with unmerge.

Matrix: anonymous (login), people without the merge flag (404, like a hidden record), a regional
steward (sees Guangdong only: a pair with a Beijing record is 404, also through an expired share),
masked values, the data steward; denied POSTs change no rows; queue queries do not grow with rows.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from dedup.models import CandidatePair, MergeJournal
from sharing.models import CustomerUserShare

from .conftest import credit_code


def _pair(x, y, score=90):
    a, b = CandidatePair.ordered(x.pk, y.pk)
    return CandidatePair.objects.create(
        a_id=a,
        b_id=b,
        score=score,
        band="likely" if score >= 65 else "possible",
        explanation=[{"field": "contact", "agreement": "exact", "points": 45}],
    )


@pytest.fixture
def gd_pair(make_customer, shenzhen_sales_rep, guangzhou_sales_rep):
    a = make_customer(
        name="深圳市华为技术有限公司", owner=shenzhen_sales_rep, phones=["13800138000"], credit_code=credit_code(7)
    )
    b = make_customer(name="华为技术有限公司", owner=guangzhou_sales_rep, phones=["+86 138 0013 8000"])
    return _pair(a, b)


@pytest.fixture
def cross_pair(make_customer, shenzhen_sales_rep, beijing_sales_rep):
    a = make_customer(name="深圳恒通贸易有限公司", owner=shenzhen_sales_rep, phones=["13700137000"])
    b = make_customer(name="恒通贸易有限公司", owner=beijing_sales_rep, phones=["13700137000"])
    return _pair(a, b)


def test_anonymous_users_are_sent_to_log_in(client, gd_pair):
    for url in (reverse("dedup:queue"), reverse("dedup:pair", args=[gd_pair.pk]), reverse("dedup:merges")):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(
    "persona", ["outsider", "shenzhen_sales_rep", "guangdong_sales_manager", "beijing_sales_manager", "auditor"]
)
def test_people_without_the_merge_flag_get_404_everywhere(persona, request, client_for, gd_pair, data_steward):
    from dedup.services import customer_merge

    user = request.getfixturevalue(persona)
    client = client_for(user)
    _s, journal = customer_merge(survivor=gd_pair.a, duplicate=gd_pair.b, merged_by=data_steward, reason="x")
    other = (
        _pair(*Customer.objects.filter(status="active")[:2])
        if Customer.objects.filter(status="active").count() > 1
        else gd_pair
    )
    for url in (
        reverse("dedup:queue"),
        reverse("dedup:pair", args=[other.pk]),
        reverse("dedup:merges"),
        reverse("dedup:journal", args=[journal.pk]),
        reverse("dedup:jobs"),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("dedup:unmerge", args=[journal.pk]), {"reason": "x"}).status_code == 404
    journal.refresh_from_db()
    assert journal.status == "merged"


def test_a_regional_steward_sees_guangdong_pairs_but_a_pair_with_a_beijing_record_is_404(
    client_for, regional_steward, gd_pair, cross_pair
):
    client = client_for(regional_steward)
    assert client.get(reverse("dedup:pair", args=[gd_pair.pk])).status_code == 200
    assert client.get(reverse("dedup:pair", args=[cross_pair.pk])).status_code == 404
    response = client.get(reverse("dedup:queue"))
    assert [row["pair"].pk for row in response.context["rows"]] == [gd_pair.pk]
    assert "恒通" not in response.content.decode()


def test_an_expired_share_does_not_open_a_pair(client_for, regional_steward, cross_pair):
    CustomerUserShare.objects.create(
        user=regional_steward,
        content_object=Customer.objects.get(
            pk=cross_pair.b_id if cross_pair.a.owner.username == "sz_rep" else cross_pair.a_id
        ),
        permission=Permission.objects.get(codename="change_customer", content_type__app_label="customers"),
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert client_for(regional_steward).get(reverse("dedup:pair", args=[cross_pair.pk])).status_code == 404


def test_the_comparison_masks_what_the_steward_sees_masked(client_for, regional_steward, gd_pair):
    body = client_for(regional_steward).get(reverse("dedup:pair", args=[gd_pair.pk])).content.decode()
    code = credit_code(7)
    assert code not in body
    assert code[:4] + "*" * 10 + code[-4:] in body
    assert "13800138000" not in body and "138****8000" in body


def test_the_data_steward_sees_the_values_in_clear_and_the_explanation(client_for, data_steward, gd_pair):
    body = client_for(data_steward).get(reverse("dedup:pair", args=[gd_pair.pk])).content.decode()
    assert "13800138000" in body and gd_pair.a.number in body and gd_pair.b.number in body
    assert "+45" in body


def test_the_queue_costs_the_same_queries_for_3_or_30_pairs(
    client_for, data_steward, make_customer, django_assert_max_num_queries
):
    def add(count, offset):
        for i in range(count):
            x = make_customer(name=f"公司{offset + i}甲")
            y = make_customer(name=f"公司{offset + i}乙")
            _pair(x, y, score=50 + i % 50)

    add(3, 0)
    client = client_for(data_steward)
    client.get(reverse("dedup:queue"))
    with django_assert_max_num_queries(10) as few:
        client.get(reverse("dedup:queue"))
    add(27, 100)
    with django_assert_max_num_queries(len(few)):
        response = client.get(reverse("dedup:queue"))
    assert len(response.context["rows"]) == 25
    scores = [row["pair"].score for row in response.context["rows"]]
    assert scores == sorted(scores, reverse=True)


def test_the_queue_filters_by_band_kind_and_province(client_for, data_steward, make_customer):
    likely = _pair(make_customer(name="甲公司"), make_customer(name="甲公司二"), score=90)
    possible = _pair(make_customer(name="乙公司"), make_customer(name="乙公司二"), score=55)
    Customer.objects.filter(pk=possible.a_id).update(province="广东")
    client = client_for(data_steward)
    assert [r["pair"] for r in client.get(reverse("dedup:queue"), {"band": "likely"}).context["rows"]] == [likely]
    assert [r["pair"] for r in client.get(reverse("dedup:queue"), {"province": "广东"}).context["rows"]] == [possible]
    assert client.get(reverse("dedup:queue"), {"kind": "person"}).context["rows"] == []


def test_a_steward_merges_from_the_comparison_and_undoes_it_from_the_journal(client_for, data_steward, gd_pair):
    client = client_for(data_steward)
    response = client.post(
        reverse("dedup:merge", args=[gd_pair.pk]),
        {"survivor": "b", "reason": "同一家公司", "field_name": "a"},
    )
    journal = MergeJournal.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("dedup:journal", args=[journal.pk])
    assert journal.survivor_id == gd_pair.b_id
    survivor = Customer.objects.get(pk=gd_pair.b_id)
    assert survivor.name == "深圳市华为技术有限公司"  # the name of A was chosen
    assert Customer.objects.get(pk=gd_pair.a_id).status == "merged"
    gd_pair.refresh_from_db()
    assert gd_pair.status == "merged"
    page = client.get(reverse("dedup:journal", args=[journal.pk])).content.decode()
    assert 'data-testid="unmerge-form"' in page

    response = client.post(reverse("dedup:unmerge", args=[journal.pk]), {"reason": "合并错了"})
    assert response.status_code == 302
    assert set(Customer.objects.filter(pk__in=[gd_pair.a_id, gd_pair.b_id]).values_list("status", flat=True)) == {
        "active"
    }
    gd_pair.refresh_from_db()
    assert gd_pair.status == "open"


def test_a_merge_without_reason_is_refused_and_keeps_the_choices(client_for, data_steward, gd_pair):
    response = client_for(data_steward).post(
        reverse("dedup:merge", args=[gd_pair.pk]), {"survivor": "b", "reason": " ", "field_name": "a"}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'value="b" data-testid="keep-b" checked' in body
    assert not MergeJournal.objects.exists()


def test_a_merge_needing_change_rights_the_steward_lacks_changes_nothing(client_for, regional_steward, cross_pair):
    beijing = cross_pair.b if cross_pair.b.owner.username == "bj_rep" else cross_pair.a
    CustomerUserShare.objects.create(
        user=regional_steward,
        content_object=beijing,
        permission=Permission.objects.get(codename="view_customer", content_type__app_label="customers"),
    )
    client = client_for(regional_steward)
    assert client.get(reverse("dedup:pair", args=[cross_pair.pk])).status_code == 200
    response = client.post(reverse("dedup:merge", args=[cross_pair.pk]), {"survivor": "a", "reason": "x"})
    assert response.status_code == 400
    assert "change rights" in response.content.decode() or "修改" in response.content.decode()
    assert not MergeJournal.objects.exists()
    assert set(Customer.objects.filter(pk__in=[cross_pair.a_id, cross_pair.b_id]).values_list("status", flat=True)) == {
        "active"
    }


def test_a_steward_marks_a_pair_not_a_duplicate_and_it_leaves_the_queue(client_for, data_steward, gd_pair):
    client = client_for(data_steward)
    response = client.post(
        reverse("dedup:pair_decide", args=[gd_pair.pk]),
        {"decide-decision": "not_duplicate", "decide-reason": "两家公司"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("dedup:queue")
    gd_pair.refresh_from_db()
    assert gd_pair.status == "not_duplicate" and gd_pair.decided_by == data_steward
    assert client.get(reverse("dedup:queue")).context["rows"] == []


def test_the_merges_page_lists_merges_of_visible_customers(client_for, data_steward, regional_steward, gd_pair):
    from dedup.services import customer_merge

    customer_merge(survivor=gd_pair.a, duplicate=gd_pair.b, merged_by=data_steward, reason="x")
    for user in (data_steward, regional_steward):
        response = client_for(user).get(reverse("dedup:merges"))
        assert response.status_code == 200 and gd_pair.a.number in response.content.decode()
