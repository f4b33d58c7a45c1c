"""Timestamps parsed by psycopg's C loader with Django's time-zone semantics (crm/pgtypes.py)."""

import datetime

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

VALUES = (
    "2026-11-22 10:11:12.123456+00",
    "2026-03-29 01:59:59+08",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "2000-02-29 23:00:00-05:30",
)

# Year 9999 at +08:00 is year 10000, which neither loader can give.
IN_RANGE = tuple(value for value in VALUES if not value.startswith("9999"))


def _postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL connections only")


def _fetch(cursor, values=VALUES):
    cursor.execute(
        "SELECT v::timestamptz FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n", [list(values)]
    )
    rows = [row[0] for row in cursor.fetchall()]
    cursor.execute("SELECT NULL::timestamptz, now()")
    return rows, cursor.fetchone()


def _with_djangos_loader(cursor):
    from django.db.backends.postgresql.psycopg_any import register_tzloader

    register_tzloader(connection.timezone, cursor.cursor)  # what Django registered before
    return cursor


def test_connections_read_timestamps_with_the_c_loader():
    _postgresql()
    import psycopg
    from psycopg.pq import Format

    connection.ensure_connection()
    oid = psycopg.adapters.types["timestamptz"].oid
    loader_class = connection.connection.adapters.get_loader(oid, Format.TEXT)
    assert loader_class.__module__ == "crm.pgtypes"
    assert loader_class.timezone is connection.timezone  # so Django's cursors keep it
    if psycopg.pq.__impl__ in ("binary", "c"):
        load = loader_class(oid, connection.connection).load
        assert type(load.__self__).__module__.startswith(("psycopg_binary", "psycopg_c"))


def test_the_values_are_those_djangos_own_loader_gives():
    _postgresql()
    with connection.cursor() as cursor:
        ours, (null, now) = _fetch(cursor)
    with connection.cursor() as cursor:
        theirs, (their_null, _now) = _fetch(_with_djangos_loader(cursor))
    assert ours == theirs
    assert [value.tzinfo for value in ours] == [datetime.UTC] * len(VALUES)
    assert ours[0] == datetime.datetime(2026, 11, 22, 10, 11, 12, 123456, tzinfo=datetime.UTC)
    assert ours[1] == datetime.datetime(2026, 3, 28, 17, 59, 59, tzinfo=datetime.UTC)
    assert null is None and their_null is None
    assert now.tzinfo is datetime.UTC


def test_in_another_session_time_zone_the_values_still_match_djangos_loader():
    """Django sets tzinfo with replace(); in a session whose time zone is not UTC the C result is
    not used as it is, and the value stays exactly what Django's loader gives."""
    _postgresql()
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Asia/Shanghai'")
        try:
            ours, _ = _fetch(cursor, IN_RANGE)
            with connection.cursor() as other:
                theirs, _ = _fetch(_with_djangos_loader(other), IN_RANGE)
        finally:
            cursor.execute("SET TIME ZONE 'UTC'")
    assert ours == theirs
    assert ours[0].tzinfo is datetime.UTC


def test_a_model_round_trip_keeps_the_instant():
    from crm.models import SummaryRun

    started = datetime.datetime(2026, 11, 22, 23, 59, 59, 999999, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
    run = SummaryRun.objects.create(started_at=started, as_of=started, today=datetime.date(2026, 11, 22))
    loaded = SummaryRun.objects.get(pk=run.pk)
    assert loaded.started_at == started
    assert loaded.started_at.tzinfo is datetime.UTC
    assert SummaryRun.objects.filter(started_at__gte=started).count() == 1
