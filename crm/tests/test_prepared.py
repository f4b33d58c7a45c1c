"""Server-side prepared statements for the 360 page's planning-heavy raw SQL (crm/prepared.py)."""

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings

from crm import prepared

SQL = "SELECT %s::int * 2 AS doubled, %s AS label UNION ALL SELECT 10, 'ten' ORDER BY 1"


def _run(params, sql=SQL):
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        prepared.execute(cursor, sql, params)
        rows = cursor.fetchall()
    return rows, [q["sql"] for q in captured.captured_queries]


def test_placeholders_are_numbered_and_percent_literals_refused():
    assert prepared._numbered("SELECT %s, %s FROM t WHERE a = %s") == "SELECT $1, $2 FROM t WHERE a = $3"
    with pytest.raises(ValueError):
        prepared._numbered("SELECT 'a%%' || %s")


@pytest.mark.django_db
def test_prepared_once_per_connection_then_executed_with_the_same_rows_as_plain_sql():
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(SQL, [3, "three"])
        plain = cursor.fetchall()
    first, first_sql = _run([3, "three"])
    second, second_sql = _run([4, "four"])
    assert first == plain == [(6, "three"), (10, "ten")]
    assert second == [(8, "four"), (10, "ten")]
    # One round trip each: PREPARE and EXECUTE together the first time, EXECUTE alone afterwards.
    assert len(first_sql) == 1 and first_sql[0].startswith("PREPARE ") and "EXECUTE" in first_sql[0]
    assert len(second_sql) == 1 and second_sql[0].startswith("EXECUTE ")
    assert len(prepared.prepared_names()) >= 1
    # Text and NULL stay of unknown type, integers are integers: SUBSTRING picks its integer form.
    with connection.cursor() as cursor:
        prepared.execute(cursor, "SELECT SUBSTRING(%s, %s, %s), %s::text IS NULL -- types", ["abcdef", 2, 3, None])
        assert cursor.fetchall() == [("bcd", True)]


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_again():
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    _run([1, "one"])
    connection.close()
    rows, sql = _run([2, "two"])
    assert rows == [(4, "two"), (10, "ten")] and sql[0].startswith("PREPARE ")


@pytest.mark.django_db
def test_a_failed_first_execution_does_not_break_the_connection_for_later_ones():
    """PREPARE is not undone when the EXECUTE beside it fails: the next use must find the statement
    (pg_prepared_statements) instead of failing on "already exists"."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    fresh = "SELECT 100 / %s AS quotient, %s AS label"  # not prepared on this connection by another test
    with pytest.raises(DataError), transaction.atomic():
        _run([0, "zero"], fresh)  # division by zero: PREPARE went through, EXECUTE failed
    rows, sql = _run([5, "five"], fresh)
    assert rows == [(20, "five")]
    assert any("pg_prepared_statements" in s for s in sql) and not any(s.startswith("PREPARE ") for s in sql)


@pytest.mark.django_db
def test_switched_off_it_runs_the_plain_statement():
    with override_settings(CRM_PREPARED_STATEMENTS=False):
        rows, sql = _run([7, "seven"])
    assert rows == [(10, "ten"), (14, "seven")]
    assert sql and not sql[0].startswith(("PREPARE", "EXECUTE"))
