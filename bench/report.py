"""Turn the JSON lines of run_all.py into Markdown tables (for docs/performance.md).

    .venv/bin/python bench/run_all.py > results.jsonl
    .venv/bin/python bench/report.py results.jsonl

Pages: one row per page, one column per persona, each cell "p95 (queries)" in ms, marked ✗ when
it misses its target. Then the load test, memory and import lines as they came.
"""

from __future__ import annotations

import json
import sys

PERSONAS = [
    "executive",
    "provincial_manager",
    "regional_rep",
    "dealer",
    "service_agent",
    "finance_clerk",
    "big_share",
]


def load(path: str) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") if path != "-" else sys.stdin as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
    return records


def cell(record: dict | None) -> str:
    if record is None:
        return ""
    if record.get("skipped"):
        return "n/a"
    if record.get("error"):
        return "error"
    value = record["value"]
    mark = "" if record.get("meets_target", True) else " ✗"
    queries = record.get("queries")
    return f"{value:g}{mark}" + (f" ({queries})" if queries is not None else "")


def main(argv=None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    records = load(argv[0] if argv else "-")
    pages: dict[str, dict[str, dict]] = {}
    targets: dict[str, object] = {}
    for r in records:
        metric = r.get("metric", "")
        if metric.startswith("page.") or metric.startswith("orm_") or metric == "write_activity_create":
            name = metric.removeprefix("page.")
            pages.setdefault(name, {})[r.get("persona")] = r
            if r.get("target") is not None:
                targets[name] = r["target"]
    print("| page (p95 ms, queries) | target | " + " | ".join(PERSONAS) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in PERSONAS) + " |")
    for name, by_persona in pages.items():
        row = [cell(by_persona.get(p)) for p in PERSONAS]
        print(f"| {name} | {targets.get(name, '')} | " + " | ".join(row) + " |")
    print()
    for r in records:
        metric = r.get("metric", "")
        if metric.startswith(("load.", "memory.", "import.", "bench_context", "bench_total")):
            extra = {k: v for k, v in r.items() if k not in ("metric", "value", "unit", "persona") and v is not None}
            print(f"- `{metric}` = **{r.get('value')}** {r.get('unit', '')} {json.dumps(extra, ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
