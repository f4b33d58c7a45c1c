"""Insert many model instances fast: PostgreSQL COPY, or bulk_create elsewhere.

`bulk_create` spends most of its time turning every field of every object into SQL parameters
(on an import of 100,000 customers with three contact points each, that is millions of calls).
COPY takes rows as tuples. Primary keys are taken from the table's sequence first, so the caller
gets the ids (for the child rows) exactly as with bulk_create. Like bulk_create, no signals fire:
callers log to the audit trail explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models
from django.utils import timezone


def _columns(model) -> list[models.Field]:
    """Concrete columns, except those the database fills itself (db_default)."""
    return [
        f for f in model._meta.concrete_fields if getattr(f, "db_default", models.NOT_PROVIDED) is models.NOT_PROVIDED
    ]


def _value(field: models.Field, value):
    if isinstance(field, models.JSONField):
        from psycopg.types.json import Jsonb

        return None if value is None else Jsonb(value)
    return value


def insert_many(model, objects: Sequence[models.Model], *, batch_size: int = 2000) -> None:
    """Insert these unsaved instances and set their primary keys. Fills auto_now(_add) dates and
    field defaults the way save() would."""
    if not objects:
        return
    if connection.vendor != "postgresql":
        model._base_manager.bulk_create(objects, batch_size=batch_size)
        return
    fields = _columns(model)
    pk = model._meta.pk
    now = timezone.now()
    auto_dates = [
        f for f in fields if isinstance(f, models.DateTimeField | models.DateField) and (f.auto_now or f.auto_now_add)
    ]
    missing = [obj for obj in objects if getattr(obj, pk.attname) is None]
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if missing:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [connection.ops.quote_name(table), pk.column, len(missing)],
            )
            for obj, (new_id,) in zip(missing, cursor.fetchall(), strict=True):
                setattr(obj, pk.attname, new_id)
        for obj in objects:
            for field in auto_dates:
                if field.auto_now or getattr(obj, field.attname) is None:
                    setattr(obj, field.attname, now if isinstance(field, models.DateTimeField) else now.date())
            obj._state.adding = False
            obj._state.db = connection.alias
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        sql = f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN"
        attnames = [f.attname for f in fields]
        json = [(i, f) for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
        with cursor.cursor.copy(sql) as copy:
            for obj in objects:
                row = [getattr(obj, name) for name in attnames]
                for i, field in json:
                    row[i] = _value(field, row[i])
                copy.write_row(row)


def copy_rows(model, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Insert plain tuples (values in the order of `columns`, attnames) without building a model
    instance per row: for child rows whose ids nobody needs back. Every other column gets what a new
    instance would hold (its default, `now` for auto dates) except the primary key and db_default
    columns, which the database fills. Other databases get bulk_create of instances."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model._base_manager.bulk_create(
            [model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=2000
        )
        return
    given = list(columns)
    by_attname = {f.attname: f for f in _columns(model)}
    now = timezone.now()
    extra, extra_values = [], []
    for field in by_attname.values():
        if field.attname in given or field.primary_key:
            continue
        if isinstance(field, models.DateTimeField | models.DateField) and (field.auto_now or field.auto_now_add):
            value = now if isinstance(field, models.DateTimeField) else now.date()
        else:
            value = field.get_default()
        extra.append(field)
        extra_values.append(_value(field, value))
    fields = [by_attname[name] for name in given]
    wrap = [i for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
    quoted = ", ".join(connection.ops.quote_name(f.column) for f in (*fields, *extra))
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({quoted}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            if wrap:
                row = list(row)
                for i in wrap:
                    row[i] = _value(fields[i], row[i])
            copy.write_row((*row, *extra_values))
