"""Planner statistics refreshed by the code that just changed a table a lot.

A bulk write (an import's chunks, a duplicate search's pairs, a dashboard summary run) can leave
PostgreSQL planning on the statistics of a much smaller table until autovacuum comes round
(minutes later, or never where it is off): a few estimated rows turn a grouped read or a count
into a loop over every row. The writer knows; it calls `analyze`.
"""

from __future__ import annotations

from django.db import connection


def analyze(*models) -> None:
    """`ANALYZE` each model's table on PostgreSQL; nothing elsewhere (SQLite plans without them)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
