"""The dashboards per persona, live and from the precomputed summaries; the summary refresh itself.

    DATABASE_URL=postgres://…/crm_scale nice -n 15 .venv/bin/python bench/bench_dashboards.py [--repeat 5]

For each persona: the dashboard page (`dashboards:index`, default period) and the silent-customers
list (`dashboards:silent`), first with no summary run in the database (everything live), then after
`summaries_refresh()` (unit-shaped scopes read the summary; the others stay live and should not
change). Prints JSON lines like the other bench scripts: p50/p95/max, queries, time in SQL, and
`source` ("summary": the scope's units from the summary run, `outside` = how many own or shared
customers outside those units are added live; "live": everything live). The refresh's duration
and row count are `summary.refresh_s` and `summary.rows`. Leaves the last summary run in the
database. `--phases summary` skips the live phase (and keeps the existing runs until the refresh).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database_label, emit, machine, note, persona_users, summary  # noqa: E402

TARGET_DASHBOARD = 200


def measure(client, url: str, repeat: int, warmup: int = 1) -> dict:
    from django.db import connection, reset_queries

    for _ in range(warmup):
        client.get(url)
    samples, queries, sql_ms, status = [], 0, 0.0, None
    for _ in range(repeat):
        reset_queries()
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        status = response.status_code
        queries = len(connection.queries)
        sql_ms = sum(float(q["time"]) for q in connection.queries) * 1000
    return {**summary(samples), "queries": queries, "sql_ms": round(sql_ms, 1), "status": status}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--personas", default="executive,provincial_manager,regional_rep,finance_clerk")
    parser.add_argument("--phases", default="live,summary", help="live, summary or both (comma-separated)")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from crm.models import SummaryRun
    from crm.summaries import summaries_refresh, summary_source

    settings.DEBUG = False
    connection.force_debug_cursor = True  # record queries for the counts without DEBUG's other costs
    emit("bench_context", os.getloadavg()[0], "load1", database=database_label(), machine=machine())
    users = persona_users()
    wanted = [p for p in args.personas.split(",") if p in users]
    urls = {"dashboard": reverse("dashboards:index"), "silent": reverse("dashboards:silent")}

    def run(phase: str) -> None:
        for persona in wanted:
            client = Client()
            client.force_login(users[persona])
            source = summary_source(users[persona])
            outside = None
            if source is not None and source.unit_ids is not None:
                outside = len(source.outside) if isinstance(source.outside, tuple) else "many"
            for name, url in urls.items():
                figures = measure(client, url, args.repeat)
                emit(
                    f"dashboards.{phase}.{name}",
                    figures["p95"],
                    "ms",
                    persona,
                    target=TARGET_DASHBOARD,
                    meets_target=figures["p95"] <= TARGET_DASHBOARD,
                    source="summary" if source else "live",
                    outside=outside,
                    load1=round(os.getloadavg()[0], 2),
                    **figures,
                )

    phases = args.phases.split(",")
    if "live" in phases:
        SummaryRun.objects.all().delete()
        run("live")
    if "summary" not in phases:
        note("done")
        return 0
    with CaptureQueriesContext(connection):
        started = time.perf_counter()
        refreshed = summaries_refresh()
        elapsed = time.perf_counter() - started
    emit("summary.refresh_s", round(elapsed, 2), "s", None, load1=round(os.getloadavg()[0], 2))
    emit("summary.rows", refreshed.rows.count(), "rows", None)
    run("summary")
    note("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
