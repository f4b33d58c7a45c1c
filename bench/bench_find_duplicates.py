"""Time and memory of `manage.py find_duplicates` on a generated corpus.

    python bench/bench_find_duplicates.py                # 1,000,000 rows
    python bench/bench_find_duplicates.py --rows 100000

Generates the corpus with bench/dedup_corpus.py (cached in the temp directory by rows and seed),
runs the command as a subprocess and samples the memory of its whole process tree every 50 ms:
PSS (proportional set size: pages shared copy-on-write between the forked workers counted once,
the real footprint) and RSS (shared pages counted in every process: an upper bound). Prints one
JSON object per metric line, e.g.
{"metric": "find_duplicates_seconds", "value": 41.2, "unit": "s", "rows": 1000000}
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import dedup_corpus  # noqa: E402


def corpus_path(rows: int, seed: int, profile: str) -> tuple[Path, Path]:
    base = Path(tempfile.gettempdir()) / f"dedup_corpus_{profile}_{rows}_{seed}"
    csv_path, truth_path = base.with_suffix(".csv"), base.with_suffix(".truth.csv")
    if not csv_path.exists() or not truth_path.exists():
        started = time.monotonic()
        rows_, truth = dedup_corpus.build(rows, seed, profile)
        dedup_corpus.write_csv(csv_path, rows_)
        dedup_corpus.write_truth(truth_path, truth)
        print(f"generated {csv_path} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return csv_path, truth_path


def _tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in KiB; (0, 0) if it is gone."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return pss, rss


def _peak_rss_kib(pid: int) -> int:
    """The kernel's high-water mark of one process's RSS (VmHWM) in KiB; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakSampler(threading.Thread):
    """Peak memory of the command's process tree, disturbing it as little as possible.

    Every `interval`: each process's VmHWM (the kernel keeps the peak, so nothing is missed between
    samples). Every `pss_every` samples: the tree again and the PSS/RSS sum from smaps_rollup, which
    walks a process's page tables under its memory lock — at the old 50 ms period, on 2.5 GB of
    workers, that slowed the command it measured.
    """

    def __init__(self, pid: int, interval: float = 0.25, pss_every: int = 4):
        super().__init__(daemon=True)
        self.pid, self.interval, self.pss_every = pid, interval, pss_every
        self.peak_pss = self.peak_rss = 0
        self.hwm: dict[int, int] = {}
        self.done = threading.Event()

    @property
    def hwm_sum(self) -> int:
        """Sum of every process's own peak: an upper bound of the tree's peak (shared pages and
        peaks at different moments counted in full)."""
        return sum(self.hwm.values())

    def run(self):
        tick, pids = 0, [self.pid]
        while not self.done.is_set():
            if tick % self.pss_every == 0:
                pids = _tree(self.pid)
                pss = rss = 0
                for pid in pids:
                    p, r = _memory_kib(pid)
                    pss += p
                    rss += r
                self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
            for pid in pids:
                self.hwm[pid] = max(self.hwm.get(pid, 0), _peak_rss_kib(pid))
            tick += 1
            self.done.wait(self.interval)


def run_command(csv_path: Path, out_path: Path, workers: int | None = None) -> dict:
    command = [
        sys.executable,
        str(ROOT / "manage.py"),
        "find_duplicates",
        "--csv",
        str(csv_path),
        "--out",
        str(out_path),
    ]
    if workers:
        command += ["--workers", str(workers)]
    env = dict(os.environ, DJANGO_DEBUG=os.environ.get("DJANGO_DEBUG", "1"))
    env.pop("DATABASE_URL", None)  # the command touches no database; never point it at a shared one
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    sampler = PeakSampler(process.pid)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    sampler.done.set()
    sampler.join()
    if process.returncode:
        raise SystemExit(f"find_duplicates failed ({process.returncode}):\n{stderr}")
    with open(out_path, encoding="utf-8") as f:
        pairs = sum(1 for _ in f) - 1
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_pss_mib": sampler.peak_pss / 1024,
        "peak_rss_mib": sampler.peak_rss / 1024,
        "hwm_sum_mib": sampler.hwm_sum / 1024,
        "pairs": pairs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", default="standard", choices=sorted(dedup_corpus.PROFILES))
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    csv_path, _ = corpus_path(args.rows, args.seed, args.profile)
    out_path = csv_path.with_suffix(".pairs.csv")
    result = run_command(csv_path, out_path, args.workers)
    common = {"rows": args.rows, "profile": args.profile}
    for metric, value, unit in (
        ("find_duplicates_seconds", round(result["seconds"], 1), "s"),
        # CPU time of the whole process tree: on a shared, busy machine the honest figure;
        # on an idle 2-core machine the wall time is a little over half of it.
        ("find_duplicates_cpu_seconds", round(result["cpu_seconds"], 1), "s"),
        ("find_duplicates_load_average", round(os.getloadavg()[0], 1), "processes"),
        ("find_duplicates_peak_pss", round(result["peak_pss_mib"]), "MiB"),
        ("find_duplicates_peak_rss", round(result["peak_rss_mib"]), "MiB"),
        # Upper bound: the sum of each process's own peak RSS (VmHWM), shared pages counted per process.
        ("find_duplicates_peak_rss_bound", round(result["hwm_sum_mib"]), "MiB"),
        ("find_duplicates_pairs", result["pairs"], "pairs"),
    ):
        print(json.dumps({"metric": metric, "value": value, "unit": unit, **common}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
