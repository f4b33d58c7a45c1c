"""The import pages: who may use them, whose jobs they show, and the whole flow through HTTP."""

import pytest

from customers.io.testing import HEADERS_ZH, bad_rows, csv_bytes, good_rows
from customers.models import Customer, ImportJob

pytestmark = pytest.mark.django_db

START = "/customers/io/import/"


@pytest.fixture
def eager_tasks(settings):
    """Run the import tasks in-process, as they run without REDIS_URL."""
    from crm.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def upload(client, content, name="customers.csv", **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(START, {"file": SimpleUploadedFile(name, content), **extra})


def test_anonymous_users_are_sent_to_log_in(client):
    for url in (START, "/customers/io/imports/", "/customers/io/import/1/", "/customers/io/import/template.csv"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("persona", ["shenzhen_sales_rep", "guangdong_sales_manager", "outsider", "finance_clerk"])
def test_the_import_page_is_refused_without_the_import_flag(client_for, request, persona):
    user = request.getfixturevalue(persona)
    assert client_for(user).get(START).status_code == 403
    assert client_for(user).get("/customers/io/import/template.csv").status_code == 403


def test_a_job_is_only_visible_to_the_user_who_uploaded_it(
    client_for, dealer_user, data_steward, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        upload(client_for(dealer_user), csv_bytes(HEADERS_ZH, good_rows(2)))
    job = ImportJob.objects.get()
    for suffix in ("", "mapping/", "rejected.csv"):
        assert client_for(data_steward).get(f"/customers/io/import/{job.pk}/{suffix}").status_code == 404
    assert client_for(data_steward).post(f"/customers/io/import/{job.pk}/decide/", {"new": "create"}).status_code == 404


def test_a_dealer_uploads_reviews_imports_and_downloads_the_rejected_rows(
    client_for, dealer_user, org, eager_tasks, django_capture_on_commit_callbacks
):
    from customers.io.exporter import read_back

    rows = good_rows(6) + [r for r, _ in bad_rows(3)]
    client = client_for(dealer_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, csv_bytes(HEADERS_ZH, rows, encoding="gbk"))
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/import/{job.pk}/")
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="preview"' in page and 'data-testid="count-invalid">3<' in page
    assert not Customer.objects.exists()  # nothing before the decision
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/customers/io/import/{job.pk}/decide/", {"new": "create", "existing": "merge", "infile": "merge"}
        )
    assert response.status_code == 302
    page = client.get(f"/customers/io/import/{job.pk}/").content.decode()
    assert 'data-testid="report-created">6<' in page and 'data-testid="report-rejected">3<' in page
    assert set(Customer.objects.values_list("org_unit", flat=True)) == {org["GD-SZ-D1"].pk}
    rejected = read_back(client.get(f"/customers/io/import/{job.pk}/rejected.csv").content)
    assert rejected[0][: len(HEADERS_ZH)] == HEADERS_ZH and rejected[0][-2] == "错误原因"
    assert len(rejected) == 4 and all(row[-2] for row in rejected[1:])


def test_an_unreadable_upload_keeps_the_form_with_a_clear_message(client_for, data_steward):
    response = upload(client_for(data_steward), b"\xd0\xcf\x11\xe0" + b"\x00" * 64, name="old.xls")
    assert response.status_code == 200
    assert ".xls" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_unknown_headers_lead_to_the_mapping_page(
    client_for, data_steward, eager_tasks, django_capture_on_commit_callbacks
):
    client = client_for(data_steward)
    response = upload(client, csv_bytes(["公司全名", "联系手机"], [["甲公司", "13800138000"]]))
    job = ImportJob.objects.get()
    assert response["Location"].endswith(f"/import/{job.pk}/mapping/")
    response = client.post(f"/customers/io/import/{job.pk}/mapping/", {"col_0": "", "col_1": "mobile"})
    assert response.status_code == 200 and "名称" in response.content.decode()  # the name column is required
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/customers/io/import/{job.pk}/mapping/", {"col_0": "name", "col_1": "mobile"})
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEW and job.analysis["counts"]["new"] == 1


def test_the_templates_download_in_both_formats_and_import_cleanly(client_for, data_steward):
    from customers.io.exporter import read_back
    from customers.io.importer import import_job_analyse, import_job_create

    client = client_for(data_steward)
    for file_format in ("csv", "xlsx"):
        response = client.get(f"/customers/io/import/template.{file_format}")
        assert response.status_code == 200
        if file_format == "csv":
            assert response.content.startswith(b"\xef\xbb\xbf")
        assert "名称" in read_back(response.content)[0]
        job = import_job_analyse(
            job=import_job_create(
                user=data_steward, filename=f"t.{file_format}", content=response.content, enqueue=False
            )
        )
        assert job.analysis["counts"]["invalid"] == 0, job.analysis["samples"]["invalid"]
    assert client.get("/customers/io/import/template.exe").status_code == 404


def test_the_job_list_has_an_empty_state_and_constant_queries(client_for, data_steward, django_assert_max_num_queries):
    client = client_for(data_steward)
    assert "empty-state" in client.get("/customers/io/imports/").content.decode()
    for i in range(30):
        ImportJob.objects.create(created_by=data_steward, filename=f"f{i}.csv", file_format="csv")
    with django_assert_max_num_queries(12):
        assert client.get("/customers/io/imports/").status_code == 200
