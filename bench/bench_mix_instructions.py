"""Python instructions per request of the load test's mix, counted by callgrind: a figure that
does not move with the machine's speed.

    DATABASE_URL=postgres://…/crm_scale .venv/bin/python bench/bench_mix_instructions.py [--users 12]

This machine's speed varies by ±15-25 % from minute to minute, so timings compare code badly.
Instruction counts repeat exactly for the same code, requests and data. The script re-runs itself
under `valgrind --tool=callgrind --instr-atstart=no`; the child builds the load test's users
(bench_load.build_sessions), takes every `len(sessions) / --users`-th one, sends each of their
operations twice to warm caches, then waits; the parent switches instrumentation on
(`callgrind_control -i on`), the child sends the measured requests (every operation of every
chosen user, MIX weight / 5 times, at least once, through Django's test client), and the parent
switches it off. Counts the Python process only (Django, psycopg, templates), not PostgreSQL.
Prints `cpu.mix.instructions` (million instructions per request). About 3 minutes with 12 users.
The write operations change the database a little, so compare runs made on the same data.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, note, setup_django  # noqa: E402


def child(users: int, flag: str) -> None:
    setup_django()

    from bench import bench_load

    sessions = bench_load.build_sessions(quick=False)
    sessions = sessions[:: max(1, len(sessions) // users)][:users]
    rng = random.Random(1)  # noqa: S311 - the choice of requests, not security

    def send(session, op):
        return bench_load.send_in_process(session, op, rng)

    plan = [(s, op) for op in bench_load.MIX for s in sessions if s.ops.get(op)]
    for _ in range(2):
        for session, op in plan:
            send(session, op)
    rng = random.Random(2)  # noqa: S311
    Path(flag + ".ready").touch()
    while not Path(flag + ".go").exists():
        time.sleep(0.05)
    done = 0
    for session, op in plan:
        for _ in range(max(1, bench_load.MIX[op] // 5)):
            send(session, op)
            done += 1
    Path(flag + ".done").write_text(str(done))
    while not Path(flag + ".off").exists():
        time.sleep(0.05)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=12, help="how many of the load test's users (default 12)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.users, args.child)
        return 0
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        note("bench_mix_instructions needs valgrind (apt-get install valgrind)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        flag, out = f"{tmp}/flag", f"{tmp}/callgrind.out"
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        command += [sys.executable, __file__, "--users", str(args.users), "--child", flag]
        process = subprocess.Popen(command, stderr=subprocess.DEVNULL)  # noqa: S603 - our own command line
        while not Path(flag + ".ready").exists():
            if process.poll() is not None:
                note("the measured process ended before it was ready")
                return 1
            time.sleep(0.5)
        subprocess.run(["callgrind_control", "-i", "on", str(process.pid)], check=True, capture_output=True)  # noqa: S603,S607
        Path(flag + ".go").touch()
        while not Path(flag + ".done").exists():
            time.sleep(0.5)
        subprocess.run(["callgrind_control", "-i", "off", str(process.pid)], check=True, capture_output=True)  # noqa: S603,S607
        requests = int(Path(flag + ".done").read_text())
        Path(flag + ".off").touch()
        process.wait()
        totals = re.search(r"^totals:\s*(\d+)", Path(out).read_text(), re.MULTILINE)
    if totals is None or not requests:
        note("no instruction totals were written")
        return 1
    emit(
        "cpu.mix.instructions",
        round(int(totals.group(1)) / requests / 1e6, 2),
        "million instructions",
        None,
        requests=requests,
        users=args.users,
        note="per request of bench_load.MIX through Django's test client; Python process only",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
