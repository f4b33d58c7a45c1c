"""The customer's org unit and owner copied onto its records, kept by database triggers (ADR 0017).

A record (activity, opportunity, payment, service case) is visible when its customer is. For a
unit scope that meant reading the scope's ~90,000 customers to semi-join the records; with the
customer's `org_unit_id` and `owner_id` copied onto the record as `cust_org_unit_id` and
`cust_owner_id`, the unit and owner terms of the predicate become plain indexed columns of the
record (interactions/querysets.py, "copies" shapes).

A stale copy would be a leak, so no Python code writes them: the database does, on every path
(save, queryset.update, merge and undo, pool, import, raw SQL):

- before a record is inserted, or updated in `customer_id` or in a copy column, the copies are set
  from its customer row (PostgreSQL: read `FOR SHARE`, so a concurrent change of the customer's
  unit or owner either waits for this insert to commit and then updates it, or commits first and
  is read here);
- after a customer's `org_unit_id` or `owner_id` changes, its records' copies are set to the new
  values in the same statement.

SQLite cannot change NEW in a BEFORE trigger: it sets the copies with an UPDATE in AFTER triggers
(the update trigger's WHEN clause ends the recursion when the copies are right).

The SQL here is what migration 0005 installed; change it only through a new migration. SQLite
drops a table's triggers when Django remakes the table (ALTER of a column): `ensure_triggers`
re-creates missing ones after every `migrate` (interactions/apps.py).
"""

# ruff: noqa: S608 (fixed table and column names of this module, no input)

from __future__ import annotations

# Tables that carry the copies: those with list pages or badges over many customers.
COPY_TABLES = ("interactions_activity", "interactions_opportunity", "interactions_payment", "interactions_servicecase")
CUSTOMER_TABLE = "customers_customer"
COPY_COLUMNS = ("cust_org_unit_id", "cust_owner_id")

PG_RECORD_FUNCTION = """
CREATE OR REPLACE FUNCTION interactions_copy_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- FOR SHARE: a concurrent change of this customer's unit or owner cannot miss this record.
    SELECT c.org_unit_id, c.owner_id INTO NEW.cust_org_unit_id, NEW.cust_owner_id
        FROM customers_customer c WHERE c.id = NEW.customer_id FOR SHARE;
    RETURN NEW;
END
$$
"""

PG_CUSTOMER_FUNCTION = (
    """
CREATE OR REPLACE FUNCTION interactions_customer_copies_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
"""
    + "".join(
        f"    UPDATE {table} SET cust_org_unit_id = NEW.org_unit_id, cust_owner_id = NEW.owner_id\n"
        f"        WHERE customer_id = NEW.id;\n"
        for table in COPY_TABLES
    )
    + """    RETURN NULL;
END
$$
"""
)


def _pg_record_trigger(table: str) -> str:
    return (
        f"CREATE OR REPLACE TRIGGER {table}_copy_customer "
        f"BEFORE INSERT OR UPDATE OF customer_id, cust_org_unit_id, cust_owner_id ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION interactions_copy_customer()"
    )


PG_CUSTOMER_TRIGGER = (
    f"CREATE OR REPLACE TRIGGER {CUSTOMER_TABLE}_record_copies "
    f"AFTER UPDATE OF org_unit_id, owner_id ON {CUSTOMER_TABLE} FOR EACH ROW "
    "WHEN (OLD.org_unit_id IS DISTINCT FROM NEW.org_unit_id OR OLD.owner_id IS DISTINCT FROM NEW.owner_id) "
    "EXECUTE FUNCTION interactions_customer_copies_changed()"
)


def _sqlite_set(table: str) -> str:
    return (
        f"UPDATE {table} SET "
        f"cust_org_unit_id = (SELECT org_unit_id FROM {CUSTOMER_TABLE} WHERE id = NEW.customer_id), "
        f"cust_owner_id = (SELECT owner_id FROM {CUSTOMER_TABLE} WHERE id = NEW.customer_id) "
        f"WHERE id = NEW.id;"
    )


def _sqlite_record_triggers(table: str) -> list[str]:
    stale = (
        f"NEW.cust_org_unit_id IS NOT (SELECT org_unit_id FROM {CUSTOMER_TABLE} WHERE id = NEW.customer_id) "
        f"OR NEW.cust_owner_id IS NOT (SELECT owner_id FROM {CUSTOMER_TABLE} WHERE id = NEW.customer_id)"
    )
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_copy_customer_ins AFTER INSERT ON {table} "
        f"BEGIN {_sqlite_set(table)} END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_copy_customer_upd "
        f"AFTER UPDATE OF customer_id, cust_org_unit_id, cust_owner_id ON {table} WHEN {stale} "
        f"BEGIN {_sqlite_set(table)} END",
    ]


SQLITE_CUSTOMER_TRIGGER = (
    f"CREATE TRIGGER IF NOT EXISTS {CUSTOMER_TABLE}_record_copies "
    f"AFTER UPDATE OF org_unit_id, owner_id ON {CUSTOMER_TABLE} "
    "WHEN OLD.org_unit_id IS NOT NEW.org_unit_id OR OLD.owner_id IS NOT NEW.owner_id BEGIN "
    + " ".join(
        f"UPDATE {table} SET cust_org_unit_id = NEW.org_unit_id, cust_owner_id = NEW.owner_id "
        f"WHERE customer_id = NEW.id;"
        for table in COPY_TABLES
    )
    + " END"
)


def trigger_statements(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [
            PG_RECORD_FUNCTION,
            *(_pg_record_trigger(t) for t in COPY_TABLES),
            PG_CUSTOMER_FUNCTION,
            PG_CUSTOMER_TRIGGER,
        ]
    if vendor == "sqlite":
        return [*(s for t in COPY_TABLES for s in _sqlite_record_triggers(t)), SQLITE_CUSTOMER_TRIGGER]
    raise NotImplementedError(f"interactions: no customer-copy triggers for {vendor}")


def drop_statements(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {CUSTOMER_TABLE}_record_copies ON {CUSTOMER_TABLE}",
            "DROP FUNCTION IF EXISTS interactions_customer_copies_changed()",
            *(f"DROP TRIGGER IF EXISTS {t}_copy_customer ON {t}" for t in COPY_TABLES),
            "DROP FUNCTION IF EXISTS interactions_copy_customer()",
        ]
    return [
        f"DROP TRIGGER IF EXISTS {CUSTOMER_TABLE}_record_copies",
        *(f"DROP TRIGGER IF EXISTS {t}_copy_customer_{op}" for t in COPY_TABLES for op in ("ins", "upd")),
    ]


def backfill_statements(vendor: str, tables=COPY_TABLES) -> list[str]:
    """Set every record's copies from its customer, one set-based UPDATE per table."""
    if vendor == "postgresql":
        return [
            f"UPDATE {t} r SET cust_org_unit_id = c.org_unit_id, cust_owner_id = c.owner_id "
            f"FROM {CUSTOMER_TABLE} c WHERE c.id = r.customer_id "
            f"AND (r.cust_org_unit_id IS DISTINCT FROM c.org_unit_id OR r.cust_owner_id IS DISTINCT FROM c.owner_id)"
            for t in tables
        ]
    return [
        f"UPDATE {t} SET "
        f"cust_org_unit_id = (SELECT org_unit_id FROM {CUSTOMER_TABLE} c WHERE c.id = {t}.customer_id), "
        f"cust_owner_id = (SELECT owner_id FROM {CUSTOMER_TABLE} c WHERE c.id = {t}.customer_id)"
        for t in tables
    ]


def expected_trigger_names(vendor: str) -> set[str]:
    if vendor == "postgresql":
        return {f"{t}_copy_customer" for t in COPY_TABLES} | {f"{CUSTOMER_TABLE}_record_copies"}
    return {f"{t}_copy_customer_{op}" for t in COPY_TABLES for op in ("ins", "upd")} | {
        f"{CUSTOMER_TABLE}_record_copies"
    }


def installed_trigger_names(connection) -> set[str]:
    """The customer-copy triggers present (and, on PostgreSQL, enabled)."""
    names = sorted(expected_trigger_names(connection.vendor))
    marks = ", ".join(["%s"] * len(names))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT tgname FROM pg_trigger WHERE tgenabled <> 'D' AND tgname IN ({marks})", names)
        else:
            cursor.execute(f"SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})", names)
        return {row[0] for row in cursor.fetchall()}


def install_triggers(connection) -> None:
    with connection.cursor() as cursor:
        for statement in trigger_statements(connection.vendor):
            cursor.execute(statement)


def ensure_triggers(connection) -> None:
    """Re-create triggers a table remake dropped (SQLite), then set copies that went stale meanwhile."""
    if connection.vendor not in ("postgresql", "sqlite"):
        return
    tables = set(connection.introspection.table_names())
    if not {*COPY_TABLES, CUSTOMER_TABLE} <= tables:
        return
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, COPY_TABLES[0])}
    if not set(COPY_COLUMNS) <= columns:
        return  # migrated back before 0005
    if expected_trigger_names(connection.vendor) <= installed_trigger_names(connection):
        return
    install_triggers(connection)
    with connection.cursor() as cursor:
        for statement in backfill_statements(connection.vendor):
            cursor.execute(statement)
