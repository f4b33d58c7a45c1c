"""The on-entry duplicate warning (`dedup:check`) and the create view's gate (`duplicate_gate`)."""

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError
from django.urls import reverse

from dedup.models import CandidatePair, MatchKey
from dedup.services import duplicate_candidates, duplicate_gate, match_keys_refresh_many

CANARY_NAME = "金丝雀隐秘科技有限公司"
CANARY_PHONE = "13912345678"
CANARY_EMAIL = "canary.secret@jinsique.example.com"


def _url():
    return reverse("dedup:check")


@pytest.fixture
def huawei(make_customer, shenzhen_sales_rep):
    return make_customer(name="深圳市华为技术有限公司", owner=shenzhen_sales_rep, phones=["13800138000"])


@pytest.fixture
def hidden_customer(make_customer, beijing_sales_rep):
    """A Beijing rep's customer: invisible to Guangdong's people."""
    return make_customer(name=CANARY_NAME, owner=beijing_sales_rep, phones=[CANARY_PHONE], emails=[CANARY_EMAIL])


def test_a_rep_typing_a_known_company_with_another_suffix_and_phone_format_sees_it_with_the_reasons(
    client_for, shenzhen_sales_rep, huawei
):
    response = client_for(shenzhen_sales_rep).post(
        _url(), {"kind": "company", "name": "华为技术股份有限公司", "phone": "+86 138-0013-8000"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="duplicate-hit"' in body
    assert huawei.number in body and "深圳市华为技术有限公司" in body
    # The explanation: which fields agreed, with their points.
    assert "dedup-why" in body and "+" in body
    assert reverse("customers:detail", args=[huawei.pk]) in body


def test_nothing_is_rendered_when_nothing_matches(client_for, shenzhen_sales_rep, huawei):
    response = client_for(shenzhen_sales_rep).post(_url(), {"kind": "company", "name": "完全不同的名字贸易有限公司"})
    assert response.status_code == 200
    assert response.content.decode().strip() == ""


def test_a_duplicate_the_user_may_not_see_shows_only_its_unit_and_an_access_request_button(
    client_for, shenzhen_sales_rep, hidden_customer
):
    response = client_for(shenzhen_sales_rep).post(
        _url(), {"kind": "company", "name": "金丝雀隐秘科技", "phone": "139 1234 5678", "email": CANARY_EMAIL.upper()}
    )
    body = response.content.decode()
    assert 'data-testid="duplicate-hidden"' in body
    assert hidden_customer.org_unit.name in body  # 朝阳办事处
    assert reverse("sharing:request_create", args=[hidden_customer.pk]) in body
    # Nothing else: not the name, the number, a contact value (clear or masked) or an explanation.
    for secret in (CANARY_NAME, "金丝雀隐秘科技有限", hidden_customer.number, "12345678", "5678", "canary", "jinsique"):
        assert secret not in body, secret
    assert "dedup-why" not in body
    assert 'data-testid="duplicate-hit"' not in body


def test_the_hidden_warning_reveals_nothing_to_an_outsider_either(client_for, outsider, hidden_customer):
    body = client_for(outsider).post(_url(), {"name": CANARY_NAME, "phone": CANARY_PHONE}).content.decode()
    assert 'data-testid="duplicate-hidden"' in body
    assert CANARY_NAME not in body and hidden_customer.number not in body and "5678" not in body


def test_a_masked_contact_value_stays_masked_in_the_warning(client_for, guangzhou_sales_rep, huawei):
    """A rep who sees a colleague's customer through a share sees its phone masked (contact level 1)."""
    from sharing.services import share_grant

    share_grant(customer=huawei, action="view", user=guangzhou_sales_rep, granted_by=huawei.owner)
    body = client_for(guangzhou_sales_rep).post(_url(), {"name": "华为技术", "phone": "13800138000"}).content.decode()
    assert 'data-testid="duplicate-hit"' in body
    assert "138****8000" in body
    assert "13800138000" not in body and "+8613800138000" not in body


def test_the_check_needs_a_login_and_a_post(client, client_for, shenzhen_sales_rep):
    response = client.post(_url(), {"name": "华为"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client_for(shenzhen_sales_rep).get(_url()).status_code == 405


def test_the_check_costs_the_same_few_queries_however_many_candidates_there_are(
    client_for, shenzhen_sales_rep, make_customer, django_assert_max_num_queries
):
    for index in range(8):
        make_customer(name=f"华为技术有限公司{index}分公司", owner=shenzhen_sales_rep, phones=["13800138000"])
    client = client_for(shenzhen_sales_rep)
    client.post(_url(), {"name": "华为技术", "phone": "13800138000"})  # warm the session and caches
    with django_assert_max_num_queries(12):
        body = client.post(_url(), {"name": "华为技术", "phone": "13800138000"}).content.decode()
    assert body.count('data-testid="duplicate-hit"') == 8


def test_a_pair_decided_not_a_duplicate_is_never_proposed_again(make_customer, data_steward, shenzhen_sales_rep):
    first = make_customer(name="广州恒通贸易有限公司", owner=shenzhen_sales_rep, phones=["020-8888 1234"])
    second = make_customer(name="广州恒通贸易有限公司", owner=shenzhen_sales_rep, phones=["02088881234"])
    data = {"kind": "company", "name": "广州恒通贸易有限公司", "phone": "020 88881234"}
    assert {h.customer_id for h in duplicate_candidates(user=data_steward, data=data, exclude_id=first.pk)} == {
        second.pk
    }
    a, b = CandidatePair.ordered(first.pk, second.pk)
    CandidatePair.objects.create(a_id=a, b_id=b, score=90, band="likely", status="not_duplicate")
    assert duplicate_candidates(user=data_steward, data=data, exclude_id=first.pk) == []


def test_the_gate_refuses_a_likely_duplicate_until_confirmed_with_a_reason(shenzhen_sales_rep, huawei):
    data = {"kind": "company", "name": "华为技术有限公司", "phone": "13800138000"}
    with pytest.raises(ValidationError) as refused:
        duplicate_gate(user=shenzhen_sales_rep, data=data, confirm=False, reason="")
    assert refused.value.code == "duplicate"
    with pytest.raises(ValidationError):
        duplicate_gate(user=shenzhen_sales_rep, data=data, confirm=True, reason="   ")

    hits = duplicate_gate(user=shenzhen_sales_rep, data=data, confirm=True, reason="另一家同名公司")
    assert [h.customer_id for h in hits] == [huawei.pk]
    entry = LogEntry.objects.filter(additional_data__what="duplicate_override").get()
    assert entry.actor == shenzhen_sales_rep
    assert entry.additional_data["candidate_ids"] == [huawei.pk]
    assert entry.additional_data["reason"] == "另一家同名公司"


def test_the_gate_lets_a_new_customer_through_and_understands_the_create_views_input(shenzhen_sales_rep, huawei):
    from customers.services import ContactInput, CustomerInput

    new = CustomerInput(kind="company", name="比亚迪股份有限公司", contacts=[ContactInput("mobile", "13700137000")])
    assert duplicate_gate(user=shenzhen_sales_rep, data=new) == []
    same = CustomerInput(kind="company", name="华为技术", contacts=[ContactInput("mobile", "138 0013 8000")])
    with pytest.raises(ValidationError):
        duplicate_gate(user=shenzhen_sales_rep, data=same)


def test_the_gate_also_refuses_a_duplicate_the_user_cannot_see_without_naming_it(shenzhen_sales_rep, hidden_customer):
    data = {"kind": "company", "name": CANARY_NAME, "phone": CANARY_PHONE}
    with pytest.raises(ValidationError) as refused:
        duplicate_gate(user=shenzhen_sales_rep, data=data)
    assert CANARY_NAME not in str(refused.value) and hidden_customer.number not in str(refused.value)


def test_keys_follow_the_customer_when_it_is_created_edited_and_its_contacts_deleted(
    shenzhen_sales_rep, django_capture_on_commit_callbacks
):
    from customers.services import ContactInput, CustomerInput, customer_create

    with django_capture_on_commit_callbacks(execute=True):
        customer = customer_create(
            data=CustomerInput(
                kind="company", name="深圳市腾讯计算机系统有限公司", contacts=[ContactInput("mobile", "13500135000")]
            ),
            created_by=shenzhen_sales_rep,
        )
    keys = set(MatchKey.objects.filter(customer=customer).values_list("key", flat=True))
    assert "p:+8613500135000" in keys
    assert any(k.startswith("n:") for k in keys)

    with django_capture_on_commit_callbacks(execute=True):
        customer.contact_points.get().delete()
    keys = set(MatchKey.objects.filter(customer=customer).values_list("key", flat=True))
    assert "p:+8613500135000" not in keys and keys


def test_refreshing_keys_twice_changes_nothing_and_merged_customers_have_none(make_customer, huawei):
    assert match_keys_refresh_many([huawei.pk]) == 0
    huawei.status = "merged"
    huawei.save()
    match_keys_refresh_many([huawei.pk])
    assert not MatchKey.objects.filter(customer=huawei).exists()


def test_the_lookup_page_posts_to_the_check(client_for, shenzhen_sales_rep):
    body = client_for(shenzhen_sales_rep).get(reverse("dedup:lookup")).content.decode()
    assert f'hx-post="{reverse("dedup:check")}"' in body
    assert reverse("customers:create") in body
