"""A dealer imports a GBK CSV with a few bad rows and a duplicate, reviews the preview, imports,
and downloads the rejected rows — in a real browser."""

import re

import pytest
from playwright.sync_api import Page, expect

from customers.io.testing import HEADERS_ZH, bad_rows, csv_bytes, good_rows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def eager_tasks():
    from crm.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label(re.compile("用户名|Username")).fill(username)
    page.get_by_label(re.compile("密码|Password")).fill(password)
    page.get_by_role("button", name=re.compile("^(登录|Log in)$")).click()


def test_a_dealer_imports_a_gbk_file_with_bad_rows_and_a_duplicate(
    live_server, page: Page, dealer_user, eager_tasks, tmp_path
):
    from customers.models import Customer
    from customers.tests.factories import ContactPointFactory, PersonFactory

    good = good_rows(5)
    existing = PersonFactory(name=good[1][2], owner=dealer_user)  # row 3 duplicates an existing customer
    ContactPointFactory(customer=existing, kind="mobile", value=good[1][3], normalized="+86" + good[1][3])
    bad = [r for r, _ in bad_rows(2)]
    rows = good + bad
    path = tmp_path / "经销商客户.csv"
    path.write_bytes(csv_bytes(HEADERS_ZH, rows, encoding="gbk"))

    log_in(page, live_server.url, "dealer1", "pw")
    page.goto(f"{live_server.url}/customers/io/import/")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("导入客户|Import customers"))
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_test_id("upload").click()

    preview = page.get_by_test_id("preview")
    expect(preview).to_be_visible()
    expect(page.get_by_test_id("count-rows")).to_have_text("7")
    expect(page.get_by_test_id("count-invalid")).to_have_text("2")
    expect(page.get_by_test_id("count-existing")).to_have_text("1")
    expect(page.get_by_test_id("count-new")).to_have_text("4")
    expect(page.get_by_test_id("invalid-rows")).to_contain_text("名称 (name)")
    assert Customer.objects.count() == 1  # nothing written before the decision

    page.get_by_test_id("start-import").click()
    expect(page.get_by_test_id("report")).to_be_visible()
    expect(page.get_by_test_id("report-created")).to_have_text("4")
    expect(page.get_by_test_id("report-merged")).to_have_text("1")
    expect(page.get_by_test_id("report-rejected")).to_have_text("2")

    with page.expect_download() as download_info:
        page.get_by_test_id("rejected-csv").click()
    content = download_info.value.path().read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    text = content.decode("utf-8-sig")
    assert "错误原因" in text and bad[0][0] in text and bad[1][0] in text
    assert set(Customer.objects.values_list("owner", flat=True)) == {dealer_user.pk}
