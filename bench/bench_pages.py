"""Full requests through Django, per persona: latency (p50/p95), queries per request, memory.

    DATABASE_URL=postgres://…/crm_scale .venv/bin/python bench/bench_pages.py [--quick]

Each page is requested through django.test.Client (force_login, the whole middleware stack, the
template rendered) with production-like settings (bench/settings.py): a few warm-up requests,
then --repeat measured ones. Pages: the customer list with its count, search by phone / name
prefix / customer number, the 360 page of the customer with 1,000 timeline entries (and its
timeline partial), an ordinary 360 page, follow-ups, the interaction lists, every dashboard, the
on-entry duplicate check and one write (logging an activity). Pages whose URL does not resolve
yet are reported as skipped; while `customers:list` is missing the ORM page+count is measured
instead (metric `orm_…`). Bounded by --time-limit; stops by itself.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Deadline,
    dashboard_urls,
    database_label,
    emit,
    machine,
    note,
    peak_rss_mb,
    percentile,
    persona_users,
    summary,
    url_or_none,
)

# Targets (docs/performance.md), p95 in milliseconds.
TARGET_LIST = 50
TARGET_SEARCH = 50
TARGET_360 = 100
TARGET_DASHBOARD = 200
TARGET_DEDUP = 50
TARGET_QUERIES = 15


def sample_for(user):
    """Realistic inputs for one persona: customers it can see, one of their phones, a name prefix."""
    from customers.models import ContactPoint, Customer

    visible = Customer.objects.visible_to(user).active()
    rows = list(visible.order_by("-updated_at").values("pk", "number", "name", "kind")[:50])
    if not rows:
        return None
    ids = [r["pk"] for r in rows]
    phone = (
        ContactPoint.objects.filter(customer_id__in=ids, kind__in=["mobile", "landline"])
        .order_by("customer_id")
        .values("customer_id", "value", "normalized")
        .first()
    )
    person = next((r for r in rows if r["kind"] == "person"), rows[0])
    owned = list(visible.filter(owner=user).values_list("pk", flat=True)[:20])
    return {
        "rows": rows,
        "detail_id": rows[len(rows) // 2]["pk"],
        "phone": phone,
        "name_prefix": person["name"][:2],
        "number": rows[-1]["number"],
        "person": person,
        "owned": owned,
    }


def pages_for(persona: str, user, sample, timeline_id) -> list[dict]:
    """(metric, method, url, data, target) for this persona; URLs that do not resolve are skipped."""
    from customers.models import Customer

    pages = []

    def add(metric, url, target, method="get", data=None, kind="page"):
        pages.append({"metric": metric, "url": url, "target": target, "method": method, "data": data, "kind": kind})

    list_url = url_or_none("customers:list")
    if list_url:
        add("customers_list", list_url, TARGET_LIST)
        add("customers_list_page2", list_url + "?page=2", TARGET_LIST)
        if sample["phone"]:
            value = sample["phone"]["value"]
            add("search_phone", list_url + "?q=" + value.replace("+", "%2B").replace(" ", "+"), TARGET_SEARCH)
        add("search_name_prefix", list_url + "?q=" + sample["name_prefix"], TARGET_SEARCH)
        add("search_number", list_url + "?q=" + sample["number"], TARGET_SEARCH)
    if timeline_id and Customer.objects.visible_to(user).filter(pk=timeline_id).exists():
        detail = url_or_none("customers:detail", timeline_id)
        if detail:
            add("detail_360_1000_entries", detail, TARGET_360)
        timeline = url_or_none("interactions:timeline", customer_pk=timeline_id)
        if timeline:
            add("timeline_1000_entries", timeline, TARGET_360)
    detail = url_or_none("customers:detail", sample["detail_id"])
    if detail:
        add("detail_360", detail, TARGET_360)
    for name, metric in (
        ("interactions:followups", "followups"),
        ("interactions:opportunity_list", "opportunity_list"),
        ("interactions:case_list", "case_list"),
        ("interactions:receivables", "receivables"),
    ):
        url = url_or_none(name)
        if url:
            add(metric, url, TARGET_LIST)
    for metric, url in dashboard_urls().items():
        add(f"dashboard_{metric}", url, TARGET_DASHBOARD)
    check = url_or_none("dedup:check")
    if check and sample["phone"]:
        person = sample["person"]
        add(
            "dedup_check",
            check,
            TARGET_DEDUP,
            method="post",
            data={"kind": person["kind"], "name": person["name"], "phone": sample["phone"]["value"]},
        )
    return pages


def measure(client, page, repeat: int, warmup: int, deadline: Deadline):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    method = getattr(client, page["method"])
    status, samples, queries, cpu = None, [], None, []
    for _ in range(warmup):
        response = method(page["url"], page["data"]) if page["data"] else method(page["url"])
        status = response.status_code
        if status >= 500:
            exc = getattr(response, "exc_info", None)
            page["error"] = f"{exc[0].__name__}: {str(exc[1]).splitlines()[0]}" if exc else f"HTTP {status}"
            return status, [], None
        if status in (403, 404):
            page["skipped"] = f"HTTP {status}: not open to this persona"
            return status, [], None
    for i in range(repeat):
        if deadline.expired():
            break
        if i == 0:
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                response = method(page["url"], page["data"]) if page["data"] else method(page["url"])
                elapsed = time.perf_counter() - started
            queries = len(ctx.captured_queries)
            page["sql_ms"] = round(sum(float(q["time"]) for q in ctx.captured_queries) * 1000, 1)
        else:
            started, cpu_started = time.perf_counter(), time.process_time()
            response = method(page["url"], page["data"]) if page["data"] else method(page["url"])
            elapsed = time.perf_counter() - started
            cpu.append((time.process_time() - cpu_started) * 1000)
        status = response.status_code
        samples.append(elapsed * 1000)
    # CPU time of this process (Python: views, templates, ORM) per request: unlike wall time it
    # hardly moves when other jobs share the machine.
    page["cpu_ms"] = round(percentile(cpu, 50), 1) if cpu else None
    return status, samples, queries


def measure_orm(persona, user, repeat, deadline):
    """The visibility predicate alone: a fresh page of 25 and its count, as the list selector would."""
    from customers.models import Customer
    from sharing.principal import forget_principal

    for metric, run in (
        ("orm_visible_page", lambda: list(Customer.objects.visible_to(user).order_by("-updated_at", "-pk")[:25])),
        ("orm_visible_count", lambda: Customer.objects.visible_to(user).count()),
    ):
        samples = []
        run()
        for _ in range(repeat):
            if deadline.expired():
                break
            forget_principal(user)
            started = time.perf_counter()
            value = run()
            samples.append((time.perf_counter() - started) * 1000)
        stats = summary(samples)
        extra = {"rows": value} if isinstance(value, int) else {}
        emit(metric, stats["p95"], "ms", persona, p50=stats["p50"], n=stats["n"], **extra)


def measure_write(persona, client, user, sample, repeat, deadline):
    """Logging an activity on one of the persona's own customers (a POST through the real view)."""
    url = url_or_none("interactions:activity_create", customer_pk=sample["owned"][0]) if sample["owned"] else None
    if not url:
        return
    samples, status = [], None
    for i in range(repeat):
        if deadline.expired():
            break
        started = time.perf_counter()
        response = client.post(url, {"kind": "call", "subject": f"[bench] 电话回访 {i}", "notes": ""})
        samples.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    if samples:
        stats = summary(samples)
        emit(
            "write_activity_create",
            stats["p95"],
            "ms",
            persona,
            p50=stats["p50"],
            n=stats["n"],
            status=status,
            ok=status in (200, 204, 302, 303),
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few repetitions (CI): about half a minute")
    parser.add_argument("--repeat", type=int, help="measured requests per page (default 30, quick 5)")
    parser.add_argument("--time-limit", type=float, help="stop after this many seconds (default 600, quick 45)")
    parser.add_argument("--personas", help="comma-separated persona labels (default: all)")
    parser.add_argument("--no-writes", action="store_true", help="skip the write measurement")
    parser.add_argument(
        "--pages", help="comma-separated page metrics to measure, e.g. customers_list,detail_360 (default: all)"
    )
    parser.add_argument("--no-orm", action="store_true", help="skip the orm_ measurements of visible_to alone")
    args = parser.parse_args(argv)
    repeat = args.repeat or (4 if args.quick else 30)
    warmup = 1 if args.quick else 3
    deadline = Deadline(args.time_limit or (45 if args.quick else 600))

    from bench.common import setup_django

    setup_django()
    from django.test import Client

    from crm.scale import timeline_customer_id
    from customers.models import Customer

    emit(
        "bench_context",
        Customer.objects.count(),
        "customers",
        None,
        database=database_label(),
        script="bench_pages",
        **machine(),
    )
    timeline_id = timeline_customer_id()
    if timeline_id is None:
        note("no customer tagged scale-360 (seed with seed_scale): the 1,000-entry 360 page is not measured")
    users = persona_users()
    wanted = set(args.personas.split(",")) if args.personas else None
    for persona, user in users.items():
        if wanted and persona not in wanted:
            continue
        if deadline.expired():
            note("time limit reached; remaining personas skipped")
            break
        sample = sample_for(user)
        if sample is None:
            note(f"{persona}: sees no customers; skipped")
            continue
        client = Client(raise_request_exception=False)
        client.force_login(user)
        if not args.no_orm:
            measure_orm(persona, user, repeat, deadline)
        pages = pages_for(persona, user, sample, timeline_id)
        if args.pages:
            chosen = set(args.pages.split(","))
            pages = [page for page in pages if page["metric"] in chosen]
        if not url_or_none("customers:list"):
            note("customers:list does not resolve yet: only the orm_ metrics stand for the list page")
        for page in pages:
            if deadline.expired():
                note("time limit reached; remaining pages skipped")
                break
            status, samples, queries = measure(client, page, repeat, warmup, deadline)
            if page.get("error") or page.get("skipped"):
                emit(
                    f"page.{page['metric']}",
                    None,
                    "ms",
                    persona,
                    status=status,
                    error=page.get("error"),
                    skipped=page.get("skipped"),
                    url=page["url"],
                )
                continue
            if not samples:
                continue
            stats = summary(samples)
            emit(
                f"page.{page['metric']}",
                stats["p95"],
                "ms",
                persona,
                p50=stats["p50"],
                max=stats["max"],
                n=stats["n"],
                status=status,
                queries=queries,
                sql_ms=page.get("sql_ms"),
                cpu_ms_p50=page.get("cpu_ms"),
                target=page["target"],
                meets_target=stats["p95"] <= page["target"] and status == 200,
                url=page["url"],
            )
            emit(
                f"queries.{page['metric']}",
                queries,
                "queries",
                persona,
                target=TARGET_QUERIES,
                meets_target=queries is not None and queries <= TARGET_QUERIES,
            )
        if not args.no_writes:
            measure_write(persona, client, user, sample, max(3, repeat // 3), deadline)
    emit("memory.bench_process_peak_rss", peak_rss_mb(), "MB", None, note="in-process Django serving all pages above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
