"""Throughput of the customer import (analysis and run) with duplicate checks, on PostgreSQL.

    DATABASE_URL=postgres://…/crm_bench python bench/bench_import.py [--rows 100000] [--format csv|xlsx]

Needs a migrated database with the demo org (`manage.py migrate && manage.py seed_demo`). Imports a
generated file (1 % malformed rows) as the data steward persona and prints JSON lines:
{"metric": "import.run_rows_per_s", "value": 1234.5, "unit": "rows/s", "rows": 100000, …}
The target is ≥ 1,000 rows/s for the run (docs/adr/0007-import-pipeline.md). The customers it
creates stay in the database: use a disposable one. The dedup match keys of the new customers are
written by the run itself, in each chunk's transaction (counted here, with or without REDIS_URL);
only customers merged into go to dedup.tasks.match_keys_refresh_task (in-process without Redis).
Each run imports a fresh slice of generated rows (new phones, codes and names), so runs into the
same database stay comparable; `--pipeline off` measures the run parsing every chunk in process.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, note, setup_django  # noqa: E402


def _slice_taken(start: int, count: int) -> bool:
    """Whether an earlier run imported part of the generated rows start..start+count: the mobile
    number of every 499th row (139 + the row index; persons, the odd rows, have one) is looked up,
    one query. A slice overlapping an earlier one turns its rows into merges (~15 queries each), and
    the run measures those instead of the import."""
    from customers.models import ContactPoint

    probes = [f"+86139{i:08d}" for i in range(start, start + count, 499)]
    return ContactPoint.objects.filter(normalized__in_array=probes).exists()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--user", default="steward1")
    parser.add_argument(
        "--pipeline",
        choices=["auto", "on", "off"],
        default="auto",
        help="parse the next chunk in a second process while this one writes (auto: for 5,000 rows or more)",
    )
    args = parser.parse_args()
    setup_django()

    from django.contrib.auth import get_user_model

    from customers.io.importer import import_job_analyse, import_job_create, import_job_decide, import_job_run
    from customers.io.testing import HEADERS_ZH, bad_rows, csv_bytes, good_rows, xlsx_bytes

    user = get_user_model().objects.get(username=args.user)
    # A fresh slice of phone numbers each run, so earlier runs' customers are not "duplicates".
    seed = time.time_ns()
    malformed = args.rows // 100
    rng = random.Random(seed)
    start = rng.randrange(0, 99_000_000 - args.rows)
    for _attempt in range(20):
        if not _slice_taken(start, args.rows):
            break
        start = rng.randrange(0, 99_000_000 - args.rows)
    rows = good_rows(args.rows - malformed, seed=seed, start=start) + [r for r, _ in bad_rows(malformed)]
    content = (
        xlsx_bytes(HEADERS_ZH, rows) if args.format == "xlsx" else csv_bytes(HEADERS_ZH, rows, encoding=args.encoding)
    )
    note(f"file: {len(content) / 1048576:.1f} MB, {args.rows} rows")

    started, cpu_started = time.perf_counter(), time.process_time()
    job = import_job_create(user=user, filename=f"bench.{args.format}", content=content, enqueue=False)
    job = import_job_analyse(job=job)
    analysed, cpu_analysed = time.perf_counter(), time.process_time()
    emit(
        "import.analyse_rows_per_s",
        round(args.rows / (analysed - started), 1),
        "rows/s",
        rows=args.rows,
        seconds=round(analysed - started, 2),
        format=args.format,
    )
    use_pipeline = {"auto": None, "on": True, "off": False}[args.pipeline]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    job = import_job_run(job=import_job_decide(job=job, decisions={}, enqueue=False), use_pipeline=use_pipeline)
    finished, cpu_finished = time.perf_counter(), time.process_time()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    rate = args.rows / (finished - analysed)
    emit(
        "import.run_rows_per_s",
        round(rate, 1),
        "rows/s",
        rows=args.rows,
        seconds=round(finished - analysed, 2),
        created=job.created_count,
        merged=job.merged_count,
        rejected=job.rejected_count,
        accounted=job.accounted_rows,
        target=1000,
        meets_target=rate >= 1000,
        format=args.format,
        pipeline=args.pipeline,
    )
    emit("import.total_rows_per_s", round(args.rows / (finished - started), 1), "rows/s", rows=args.rows)
    # CPU seconds of this process (the database server's work excluded): what the machine's load
    # average does not inflate. On a busy shared machine the wall-clock figures above mislead.
    emit("import.analyse_cpu_seconds", round(cpu_analysed - cpu_started, 2), "s", rows=args.rows)
    emit("import.run_cpu_seconds", round(cpu_finished - cpu_analysed, 2), "s", rows=args.rows)
    # The preparing process's CPU (customers/io/pipeline.py): parsing and normalising, off the
    # critical path; 0 when the run parsed in process.
    emit("import.run_child_cpu_seconds", round(child_cpu, 2), "s", rows=args.rows)
    emit("import.load_average", round(os.getloadavg()[0], 1), "load", cpus=os.cpu_count())


if __name__ == "__main__":
    main()
