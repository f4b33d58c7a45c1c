"""CPU per request of the load test's mix, by operation: Python and PostgreSQL, sequential, in-process.

    DATABASE_URL=postgres://…/crm_scale .venv/bin/python bench/bench_mix_cpu.py [--repeat 3] [--ops list,detail]

The load test (bench_load.py) is CPU-bound, and its figure moves ±15 % with the machine; this
script says where a request's CPU goes. It builds the same logged-in users and requests as
bench_load.py, warms every request once, then sends each operation `--repeat` times per user
through Django's test client (every middleware, templates rendered), one at a time, and measures
- the Python CPU of this process (`time.process_time()`: Django, the ORM, psycopg, templates);
- the CPU of the PostgreSQL backend serving its one connection (/proc/<pid>/stat), so PostgreSQL's
  part is counted too, planning included;
- the queries per request.
Prints one JSON line per operation (`cpu.mix.<op>`, value: Python + PostgreSQL ms per request) and
one for the mix weighted as bench_load.MIX (`cpu.mix.weighted`). Needs PostgreSQL on this machine
(the backend's /proc entry); the figures are a machine's, like the load test's.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, note, setup_django  # noqa: E402


def _backend_cpu_seconds(pid: int, tick: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="requests per user and operation (default 3)")
    parser.add_argument("--ops", default="", help="comma-separated operations of bench_load.MIX (default all)")
    args = parser.parse_args(argv)
    setup_django()
    from django.db import connection

    from bench import bench_load

    if connection.vendor != "postgresql":
        note("bench_mix_cpu needs PostgreSQL (it reads the backend's CPU from /proc)")
        return 0
    tick = os.sysconf("SC_CLK_TCK")
    ops = [op for op in bench_load.MIX if not args.ops or op in args.ops.split(",")]
    sessions = bench_load.build_sessions(quick=False)
    rng = random.Random(1)  # noqa: S311 - the choice of requests, not security
    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    def send(session, op):
        return bench_load.send_in_process(session, op, rng)

    for session in sessions:  # warm: imports, templates, caches, the connection
        for op in ops:
            if session.ops.get(op):
                send(session, op)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    results = {}
    with connection.execute_wrapper(count):
        for op in ops:
            done, failed, queries[0] = 0, 0, 0
            python0, postgres0 = time.process_time(), _backend_cpu_seconds(backend, tick)
            for session in sessions:
                for _ in range(args.repeat):
                    if not session.ops.get(op):
                        break
                    failed += send(session, op).status_code >= 400
                    done += 1
            if not done:
                continue
            python = (time.process_time() - python0) * 1000 / done
            postgres = (_backend_cpu_seconds(backend, tick) - postgres0) * 1000 / done
            results[op] = (python, postgres, queries[0] / done)
            emit(
                f"cpu.mix.{op}",
                round(python + postgres, 2),
                "ms",
                None,
                python_ms=round(python, 2),
                postgres_ms=round(postgres, 2),
                queries=round(queries[0] / done, 1),
                requests=done,
                errors=failed or None,
            )
    weight = sum(bench_load.MIX[op] for op in results)
    if weight:
        python = sum(bench_load.MIX[op] * results[op][0] for op in results) / weight
        postgres = sum(bench_load.MIX[op] * results[op][1] for op in results) / weight
        emit(
            "cpu.mix.weighted",
            round(python + postgres, 2),
            "ms",
            None,
            python_ms=round(python, 2),
            postgres_ms=round(postgres, 2),
            note="per request of bench_load.MIX; 2 cores serve at most 2000 / value requests/s plus the server's overhead",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
