"""Server-side prepared statements for the few raw statements whose planning costs more than running them.

The 360 page's timeline (one statement of 27 sub-selects) took PostgreSQL 2.4-3.8 ms to plan
and well under a millisecond to run, on every 360 page and timeline page; the page's short lists
(one UNION ALL of row_to_json sub-selects) 0.7 ms to plan (pg_stat_statements over the load test,
docs/performance.md, session 6). Their SQL is fixed per process (compiled once, only parameters
change), so each connection prepares it once (`PREPARE`) and then runs `EXECUTE name(params)`:
PostgreSQL plans the first executions with their parameters and switches to its cached generic
plan once that is no worse (plan_cache_mode auto), which for these lookups by customer id it is.

Why not psycopg's automatic preparation (`server_side_binding` + `prepare_threshold`, ADR 0018):
it applies to every ORM query and, measured over the load test, cost more CPU in the web workers
than it saved in PostgreSQL.

A statement is prepared per database session. PREPARE is not undone by a rollback; a connection
that Django replaces starts without them (the registry is keyed by the driver's connection
object). Poolers that share sessions between clients (PgBouncer in transaction mode before 1.21)
do not keep prepared statements: set CRM_PREPARED_STATEMENTS=false there.
"""

from __future__ import annotations

import hashlib
import weakref
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection

# Driver connection -> {statement name: "prepared" or "unknown"}.
_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def enabled() -> bool:
    return connection.vendor == "postgresql" and getattr(settings, "CRM_PREPARED_STATEMENTS", True)


def statement_name(sql: str) -> str:
    return "crm_" + hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()[:20]


def _numbered(sql: str) -> str:
    """`%s` placeholders as `$1`, `$2`, … (what PREPARE takes). The statements given here hold no
    literal `%` (they would be written `%%` for the driver); refused rather than guessed."""
    if "%%" in sql or "%(" in sql:
        raise ValueError("prepared statements take %s placeholders only")
    pieces = sql.split("%s")
    out = [pieces[0]]
    for number, piece in enumerate(pieces[1:], start=1):
        out.append(f"${number}{piece}")
    return "".join(out)


def _pg_type(value) -> str:
    """The parameter type PREPARE is told. Left to inference, `SUBSTRING(notes, $1, $2)` would take
    the SIMILAR-escape form (text, text, text); with literals the client-side driver writes, the
    integer form. Integers are `integer` when they fit (the statement name carries the types, so a
    larger value gets a `bigint` statement of its own); text and NULL stay `unknown`, as literals."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer" if -(2**31) <= value < 2**31 else "bigint"
    if isinstance(value, float):
        return "double precision"
    if isinstance(value, Decimal):
        return "numeric"
    if isinstance(value, datetime):
        return "timestamptz" if value.tzinfo is not None else "timestamp"
    if isinstance(value, date):
        return "date"
    return "unknown"


def execute(cursor, sql: str, params) -> None:
    """`cursor.execute(sql, params)`, through a statement prepared on this connection when enabled.

    The first use on a connection sends `PREPARE …; EXECUTE …` in one round trip (one query, as
    before); later ones `EXECUTE name(…)` only. If that first round trip fails, whether PREPARE
    took effect is unknown (it is not undone with the failed EXECUTE): the next use asks
    pg_prepared_statements before preparing again, rather than failing on "already exists"."""
    params = list(params)
    if not enabled() or not params or sql.count("%s") != len(params):
        cursor.execute(sql, params)
        return
    types = ", ".join(_pg_type(value) for value in params)
    name = statement_name(f"{sql}\n-- ({types})")
    raw = connection.connection
    states = _PREPARED.get(raw)
    if states is None:
        states = _PREPARED[raw] = {}
    run = f"EXECUTE {name}({', '.join(['%s'] * len(params))})"
    state = states.get(name)
    if state == "unknown":
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_prepared_statements WHERE name = %s)", [name])
        state = "prepared" if cursor.fetchone()[0] else None
        states[name] = state
    if state == "prepared":
        cursor.execute(run, params)
        return
    states[name] = "unknown"
    # A newline before the `;`: the statement may end in a `--` comment.
    cursor.execute(f"PREPARE {name} ({types}) AS {_numbered(sql)}\n; {run}", params)
    states[name] = "prepared"
    cursor.nextset()  # PREPARE's (empty) result first, then EXECUTE's rows


def prepared_names() -> set[str]:
    """Statements prepared on the current connection (for tests)."""
    return {name for name, state in _PREPARED.get(connection.connection, {}).items() if state == "prepared"}
