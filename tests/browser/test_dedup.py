"""Duplicates in a real browser: a rep typing a known company (another legal suffix, another phone
format) is warned on the create form and opens the existing record instead; a data steward merges
a pair from the review queue and undoes the merge."""

import importlib
import re

import pytest
from playwright.sync_api import Page, expect

from customers.models import Customer
from dedup.models import CandidatePair, MergeJournal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-test-passphrase"  # noqa: S105


@pytest.fixture(autouse=True)
def default_roles(transactional_db):
    """The roles the data migration creates; an earlier transactional test may have flushed them."""
    from django.apps import apps

    importlib.import_module("sharing.migrations.0002_default_roles").create_roles(apps, None)


@pytest.fixture
def make_customer(transactional_db):
    """A company with phones, its match keys built (as the on-commit signal would)."""
    from customers.tests.factories import ContactPointFactory, CustomerFactory
    from dedup.services import match_keys_refresh_many

    def make(*, name, owner, phones=()):
        customer = CustomerFactory(name=name, owner=owner)
        for phone in phones:
            ContactPointFactory(customer=customer, kind="mobile" if phone.startswith("1") else "landline", value=phone)
        match_keys_refresh_many([customer.pk])
        return customer

    return make


def _with_password(user):
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    expect(page).to_have_url(f"{base_url}/")


def _csp_violations(page: Page) -> list:
    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    return violations


def test_a_rep_is_warned_while_typing_and_opens_the_existing_record(
    live_server, page: Page, shenzhen_sales_rep, make_customer
):
    rep = _with_password(shenzhen_sales_rep)
    existing = make_customer(name="深圳市华为技术有限公司", owner=rep, phones=["13800138000"])
    violations = _csp_violations(page)
    log_in(page, live_server.url, rep.username)

    page.goto(f"{live_server.url}/customers/new/?kind=company")
    page.locator("input[name=name]").fill("华为技术股份有限公司")
    page.locator("input[name=contacts-0-value]").fill("+86 138-0013-8000")
    page.locator("input[name=contacts-0-value]").press("Tab")

    warning = page.get_by_test_id("duplicate-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(existing.number)
    expect(warning).to_contain_text("深圳市华为技术有限公司")
    warning.get_by_test_id("open-existing").click()
    expect(page).to_have_url(re.compile(rf"/customers/{existing.pk}/$"))
    expect(page.get_by_test_id("customer-name")).to_have_text("深圳市华为技术有限公司")
    assert Customer.objects.count() == 1
    assert violations == []


def test_a_steward_merges_a_pair_and_undoes_the_merge(
    live_server, page: Page, data_steward, shenzhen_sales_rep, guangzhou_sales_rep, make_customer
):
    steward = _with_password(data_steward)
    a = make_customer(name="广州恒通贸易有限公司", owner=guangzhou_sales_rep, phones=["020-8888 1234"])
    b = make_customer(name="恒通贸易（广州）有限公司", owner=shenzhen_sales_rep, phones=["02088881234"])
    first, second = CandidatePair.ordered(a.pk, b.pk)
    pair = CandidatePair.objects.create(
        a_id=first,
        b_id=second,
        score=83,
        band="likely",
        explanation=[{"field": "contact", "agreement": "exact", "points": 35}],
    )
    violations = _csp_violations(page)
    page.on("dialog", lambda dialog: dialog.accept())  # the data-confirm questions
    log_in(page, live_server.url, steward.username)

    page.goto(f"{live_server.url}/dedup/pairs/")
    queue = page.get_by_test_id("pair-queue")
    expect(queue.locator("tbody tr")).to_have_count(1)
    queue.locator(f"a[href='/dedup/pairs/{pair.pk}/']").click()
    expect(page.get_by_test_id("pair-score")).to_contain_text("83")

    page.get_by_test_id("keep-a").check()
    page.get_by_test_id("merge-form").locator("input[name=reason]").fill("同一家公司，两个办事处各录了一次")
    page.get_by_test_id("merge").click()
    expect(page.get_by_test_id("journal-status")).to_have_attribute("class", re.compile("badge--success"))
    journal = MergeJournal.objects.get()
    assert Customer.objects.get(pk=pair.b_id).status == "merged"
    assert journal.survivor_id == pair.a_id

    page.locator("input[name=reason]").fill("合并错了")
    page.get_by_test_id("unmerge").click()
    expect(page.get_by_test_id("journal-status")).to_have_attribute("class", re.compile("badge--info"))
    expect(page.get_by_test_id("unmerge-form")).to_have_count(0)
    assert set(Customer.objects.filter(pk__in=[a.pk, b.pk]).values_list("status", flat=True)) == {"active"}
    assert violations == []
