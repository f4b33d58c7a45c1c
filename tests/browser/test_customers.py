"""The customer master in a real browser: a sales rep enters a company and an employee, finds the
company by phone typed in another format, edits it and reads its 360° page."""

import re

import pytest
from playwright.sync_api import Page, expect

from customers.tests.factories import valid_credit_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-test-passphrase"  # noqa: S105


@pytest.fixture
def rep(shenzhen_sales_rep):
    shenzhen_sales_rep.set_password(PASSWORD)
    shenzhen_sales_rep.save()
    return shenzhen_sales_rep


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    expect(page).to_have_url(f"{base_url}/")


def test_a_sales_rep_creates_finds_edits_and_reads_a_customer(live_server, page: Page, rep):
    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    log_in(page, live_server.url, rep.username)

    # A company with a mobile and an email (the form starts with one row of each).
    page.goto(f"{live_server.url}/customers/")
    page.get_by_test_id("new-company").click()
    page.locator("input[name=name]").fill("深圳市腾飞科技有限公司")
    page.locator("input[name=credit_code]").fill("91440300MA5FX1234")  # check character missing
    page.locator("input[name=contacts-0-value]").fill("138 0013 8000")
    page.locator("input[name=contacts-1-value]").fill("boss@tengfei.example.com")
    page.get_by_test_id("save").click()
    # Rejected: the credit code gets a field error, everything typed is still there.
    expect(page.locator(".field--error input[name=credit_code]")).to_be_visible()
    expect(page.locator("input[name=contacts-0-value]")).to_have_value("138 0013 8000")
    expect(page.locator("input[name=credit_code]")).to_be_focused()
    page.locator("input[name=credit_code]").fill(valid_credit_code())
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("customer-name")).to_have_text("深圳市腾飞科技有限公司")
    expect(page.get_by_test_id("contact-card")).to_contain_text("138")

    # A person employed there: the relationship row is added with htmx, the company picked by autocomplete.
    page.goto(f"{live_server.url}/customers/new/?kind=person")
    page.locator("input[name=name]").fill("王小明")
    page.locator("input[name=contacts-0-value]").fill("139 0013 9000")
    page.get_by_test_id("add-relationship").click()
    page.locator("select[name=relationships-0-relation]").select_option("in:employs")
    page.locator("input[name=relationships-0-other_search]").fill("深圳市腾飞")
    option = page.locator("[data-autocomplete-pick]").first
    expect(option).to_contain_text("深圳市腾飞科技有限公司")
    option.click()
    expect(page.locator("input[name=relationships-0-other_search]")).to_have_value(re.compile("深圳市腾飞科技有限公司"))
    page.locator("input[name=relationships-0-title]").fill("采购经理")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("customer-name")).to_have_text("王小明")
    expect(page.get_by_test_id("relationships")).to_contain_text("深圳市腾飞科技有限公司")

    # Found by phone typed in another format, from the list's search box.
    page.goto(f"{live_server.url}/customers/")
    page.locator("input[name=q]").first.fill("+86-138-0013-8000")
    page.locator("input[name=q]").first.press("Enter")
    table = page.get_by_test_id("customer-table")
    expect(table.locator("tbody tr")).to_have_count(1)
    table.get_by_role("link", name="深圳市腾飞科技有限公司").click()

    # Edited: a new industry and a third contact point added with htmx.
    page.get_by_test_id("edit").click()
    page.locator("input[name=industry]").fill("电子制造")
    rows = page.locator("[data-contact-row]")
    before = rows.count()
    page.get_by_test_id("add-contact").click()
    # The row arrives by htmx: wait for it, or `rows.last` would still be the old last row.
    expect(rows).to_have_count(before + 1)
    new_row = rows.nth(before)
    new_row.locator("select").select_option("landline")
    new_row.locator("input[name$=-value]").fill("(0755) 2878 0808")
    page.get_by_test_id("save").click()

    # The 360° page shows the profile, the contacts and the employee from the company's side.
    expect(page.get_by_test_id("customer-name")).to_have_text("深圳市腾飞科技有限公司")
    expect(page.locator("main")).to_contain_text("电子制造")
    expect(page.get_by_test_id("contact-card")).to_contain_text("boss@tengfei.example.com")
    expect(page.get_by_test_id("contact-card").locator("tr[data-contact-kind=landline]")).to_have_count(1)
    expect(page.get_by_test_id("relationships")).to_contain_text("王小明")
    assert violations == []
