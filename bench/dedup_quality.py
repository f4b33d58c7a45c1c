"""Precision, recall and F1 of `find_duplicates` against corpora with known duplicates.

    python bench/dedup_quality.py                       # 50,000 rows, seeds 1-3, both profiles
    python bench/dedup_quality.py --rows 200000 --seeds 11 12 --profiles harsh

Runs the real command (the same code path an operator runs) on corpora from bench/dedup_corpus.py
and prints one JSON object per metric line per corpus, then the totals over all corpora:
{"metric": "dedup_precision", "value": 0.997, "rows": 50000, "seed": 1, "profile": "standard"}

Seeds other than the ones the engine was developed against (1) and the harsher profile are the
honest figures: the corpus and the engine were written by the same hands.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import dedup_corpus  # noqa: E402
from bench_find_duplicates import run_command  # noqa: E402


def read_pairs(path: Path) -> set[tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        return {(row[0], row[1]) for row in reader}


def scores(truth: set, found: set) -> dict:
    true_positives = len(truth & found)
    precision = true_positives / len(found) if found else 1.0
    recall = true_positives / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_positives": true_positives,
        "false_positives": len(found - truth),
        "false_negatives": len(truth - found),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--profiles", nargs="+", default=["standard", "harsh"], choices=sorted(dedup_corpus.PROFILES))
    parser.add_argument("--show-errors", type=int, default=0, help="print this many false pairs per corpus")
    args = parser.parse_args(argv)
    totals = {"truth": 0, "found": 0, "tp": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for profile in args.profiles:
            for seed in args.seeds:
                rows, truth = dedup_corpus.build(args.rows, seed, profile)
                source, out = Path(tmp) / "corpus.csv", Path(tmp) / "pairs.csv"
                dedup_corpus.write_csv(source, rows)
                run_command(source, out)
                found = read_pairs(out)
                result = scores(truth, found)
                totals["truth"] += len(truth)
                totals["found"] += len(found)
                totals["tp"] += result["true_positives"]
                labels = {"rows": args.rows, "seed": seed, "profile": profile}
                for metric in ("precision", "recall", "f1"):
                    print(json.dumps({"metric": f"dedup_{metric}", "value": round(result[metric], 4), **labels}))
                for metric in ("false_positives", "false_negatives"):
                    print(json.dumps({"metric": f"dedup_{metric}", "value": result[metric], **labels}))
                if args.show_errors:
                    by_id = {row[0]: row for row in rows}
                    for title, pairs in (("false positive", found - truth), ("false negative", truth - found)):
                        for a, b in sorted(pairs)[: args.show_errors]:
                            print(f"# {title}\n#   {by_id[a]}\n#   {by_id[b]}", file=sys.stderr)
    precision = totals["tp"] / totals["found"] if totals["found"] else 1.0
    recall = totals["tp"] / totals["truth"] if totals["truth"] else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    for metric, value in (("precision", precision), ("recall", recall), ("f1", f1)):
        print(
            json.dumps(
                {
                    "metric": f"dedup_{metric}_overall",
                    "value": round(value, 4),
                    "corpora": len(args.seeds) * len(args.profiles),
                }
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
