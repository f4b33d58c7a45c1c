"""Load test: gunicorn on loopback, a realistic mix of reads and writes from logged-in personas.

    DATABASE_URL=postgres://…/crm_scale .venv/bin/python bench/bench_load.py [--quick]

Starts `gunicorn crm.wsgi -w 4 --bind 127.0.0.1:<free port>` with production-like settings
(bench/settings.py: DEBUG off; secure cookies and SSL redirect off because the bench speaks plain
HTTP on loopback), logs sessions in for a few dozen seeded users of every role (sessions written
with Django's session store, as a login would), then drives it with a closed-loop generator in
Python (threads + http.client, one connection per request as gunicorn's sync workers close them)
at increasing concurrency. Each step runs for --step-seconds; the whole test is bounded by
--time-limit and gunicorn is stopped at the end whatever happens.

Reports per step: requests/s, p50/p95/p99, errors (HTTP ≥ 400 where success was expected,
refused or timed-out connections), CPU milliseconds per request of the gunicorn workers, PostgreSQL,
the generator and the whole machine (from /proc); then the highest throughput whose p95 stayed ≤ 200 ms, the
error total, the CPU-bound rate of that step (cores / machine CPU per request), the mix, and the peak RSS (VmHWM) of every gunicorn worker.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from bench.common import (  # noqa: E402
    ROOT,
    Deadline,
    children_of,
    dashboard_urls,
    database_label,
    emit,
    fill_form,
    machine,
    note,
    percentile,
    post_forms,
    proc_peak_rss_mb,
    url_or_none,
)

P95_BUDGET_MS = 200
TARGET_RPS = 150

# Share of each operation in the mix (reads ~85%, writes ~15% counting the 360 page's access log).
MIX = {
    "list": 22,
    "search_phone": 8,
    "search_name": 7,
    "search_number": 5,
    "detail": 15,
    "timeline": 5,
    "followups": 8,
    "dashboard": 8,
    "dedup_check": 7,
    "write_activity": 10,
    "write_followup_done": 5,
}
# How many logged-in users of each role take part.
ROLES = {
    "sales_rep": 12,
    "sales_manager": 4,
    "executive": 2,
    "dealer": 4,
    "service_agent": 4,
    "finance_clerk": 2,
    "channel_manager": 2,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Session:
    """One logged-in user: cookies, CSRF token and the URLs it will request."""

    def __init__(self, user, role: str):
        self.user = user
        self.role = role
        from django.utils.crypto import get_random_string

        # Django's CSRF secret: 32 letters and digits, sent as cookie and X-CSRFToken header.
        self.csrf = get_random_string(32)
        self.cookie = ""
        self.ops: dict[str, list] = {}

    def headers(self, extra=None) -> dict:
        headers = {"Cookie": self.cookie, "User-Agent": "crm-bench"}
        if extra:
            headers.update(extra)
        return headers


def login(user) -> str:
    """A session for `user` in the configured session store, exactly as django.contrib.auth.login writes it."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = user._meta.pk.value_to_string(user)
    store[BACKEND_SESSION_KEY] = "crm.auth.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return store.session_key


def send_in_process(session: Session, op: str, rng):
    """One of `session`'s `op` requests (chosen with `rng`) through Django's test client, in this
    process: how bench_mix_cpu.py and bench_mix_instructions.py send the mix."""
    from django.test import Client

    target = rng.choice(session.ops[op])
    method, url, data = target if isinstance(target, tuple) else ("GET", target, None)
    client = Client()
    client.cookies.load(session.cookie)
    if method == "POST":
        return client.post(url, data or {}, HTTP_X_CSRFTOKEN=session.csrf)
    return client.get(url)


def build_sessions(quick: bool) -> list[Session]:
    """Users of every role with realistic requests: their own list, searches for customers they
    can see, 360 pages of visible customers (the 1,000-entry one too), follow-ups, dashboards."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    from crm.scale import timeline_customer_id
    from customers.models import ContactPoint, Customer
    from interactions.models import Activity

    User = get_user_model()
    timeline_id = timeline_customer_id()
    list_url = url_or_none("customers:list")
    dashboards = list(dashboard_urls().values())
    sessions = []
    for role, count in ROLES.items():
        count = max(1, count // 3) if quick else count
        users = list(
            User.objects.filter(groups__policy__code=role, is_active=True, is_superuser=False)
            .filter(Q(username__startswith="scale_") | Q(membership__isnull=False))
            .order_by("pk")[: count * 5 : 5]
        )
        for user in users:
            session = Session(user, role)
            session.cookie = f"sessionid={login(user)}; csrftoken={session.csrf}"
            visible = Customer.objects.visible_to(user).active()
            rows = list(visible.order_by("-updated_at").values("pk", "number", "name", "kind")[:30])
            if not rows:
                continue
            ids = [r["pk"] for r in rows]
            phones = list(
                ContactPoint.objects.filter(customer_id__in=ids, kind__in=["mobile", "landline"]).values_list(
                    "customer_id", "value"
                )[:10]
            )
            ops = session.ops
            if list_url:
                ops["list"] = [list_url, list_url + "?page=2"]
                ops["search_phone"] = [list_url + "?" + urllib.parse.urlencode({"q": v}) for _c, v in phones]
                ops["search_name"] = [list_url + "?" + urllib.parse.urlencode({"q": r["name"][:2]}) for r in rows[:10]]
                ops["search_number"] = [list_url + "?q=" + r["number"] for r in rows[:10]]
            details = [url_or_none("customers:detail", r["pk"]) for r in rows[:10]]
            if timeline_id and visible.filter(pk=timeline_id).exists():
                details.append(url_or_none("customers:detail", timeline_id))
                ops["timeline"] = [url_or_none("interactions:timeline", customer_pk=timeline_id)]
            else:
                ops["timeline"] = [url_or_none("interactions:timeline", customer_pk=r["pk"]) for r in rows[:5]]
            ops["detail"] = [d for d in details if d]
            followups = url_or_none("interactions:followups")
            if followups:
                ops["followups"] = [followups]
            if dashboards:
                ops["dashboard"] = dashboards
            check = url_or_none("dedup:check")
            if check:
                people = [(c, v) for c, v in phones]
                names = {r["pk"]: (r["name"], r["kind"]) for r in rows}
                ops["dedup_check"] = [
                    ("POST", check, {"kind": names[c][1], "name": names[c][0], "phone": v}) for c, v in people[:5]
                ]
            # Writes only where this role may write: its own customers.
            own = list(visible.filter(owner=user).values_list("pk", flat=True)[:10])
            create = [url_or_none("interactions:activity_create", customer_pk=pk) for pk in own]
            if own and all(create):
                ops["write_activity"] = [
                    ("POST", url, {"kind": "call", "subject": "[bench] 电话回访", "notes": ""}) for url in create
                ]
            open_followups = list(
                Activity.objects.filter(user=user, follow_up_done=False, follow_up_on__isnull=False).values_list(
                    "pk", flat=True
                )[:200]
            )
            done = [url_or_none("interactions:followup_done", pk) for pk in open_followups]
            if done and all(done):
                ops["write_followup_done"] = [("POST", url, {}) for url in done]
            for key in [k for k, v in ops.items() if not v]:
                del ops[key]
            sessions.append(session)
    return sessions


def form_check(base: str, sessions: list[Session]) -> None:
    """One write through a real form post (GET the form, post what a browser would) to prove the
    CSRF/cookie wiring before the load starts; reports the result as a metric."""
    for session in sessions:
        urls = session.ops.get("write_activity")
        if not urls:
            continue
        _method, url, _data = urls[0]
        status, body, _ms = request(base, session, "GET", url, None)
        forms = post_forms(body.decode("utf-8", "replace")) if status == 200 else []
        if not forms:
            emit("load.form_check", status, "http_status", session.role, note="no POST form on the page")
            return
        fields = fill_form(forms[-1]["fields"], {"subject": "[bench] 表单提交检查", "kind": "call"})
        status, _body, ms = request(base, session, "POST", url, fields)
        emit("load.form_check", status, "http_status", session.role, ok=status in (200, 302, 303), ms=round(ms, 1))
        return


def request(base: str, session: Session, method: str, url: str, data, timeout: float = 10.0):
    parsed = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    body = None
    headers = session.headers()
    if method == "POST":
        body = urllib.parse.urlencode(data or {}).encode()
        headers.update(
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-CSRFToken": session.csrf,
                "Referer": base + url,
                "Origin": base,
            }
        )
    started = time.perf_counter()
    try:
        conn.request(method, url, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        status = response.status
    finally:
        conn.close()
    return status, payload, (time.perf_counter() - started) * 1000


TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_snapshot(web_pids: list[int]) -> dict:
    """Cumulative CPU seconds: the whole machine (busy time of every core), the gunicorn workers,
    each PostgreSQL process (by pid: backends come and go) and this process (the load generator)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    machine = (sum(values[:8]) - values[3] - values[4]) / TICK
    postgres = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().startswith("postgres"):
                        postgres[int(entry)] = _proc_cpu_seconds(int(entry))
            except OSError:
                continue
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "machine": machine,
        "web": sum(_proc_cpu_seconds(pid) for pid in web_pids),
        "postgres": postgres,
        "generator": usage.ru_utime + usage.ru_stime,
    }


def cpu_per_request(before: dict, after: dict, requests: int) -> dict[str, float]:
    """CPU milliseconds per request of each part. PostgreSQL counts every process alive at the end
    (a process started during the step counts whole); "other" is what the machine spent besides
    these (Redis, the kernel's network work, other jobs on the machine)."""
    if not requests:
        return {}
    spent = {k: max(0.0, after[k] - before[k]) for k in ("machine", "web", "generator")}
    spent["postgres"] = sum(max(0.0, cpu - before["postgres"].get(pid, 0.0)) for pid, cpu in after["postgres"].items())
    spent["other"] = max(0.0, spent["machine"] - spent["web"] - spent["postgres"] - spent["generator"])
    return {k: round(v * 1000 / requests, 2) for k, v in spent.items()}


def _cpu_bound_rps(step: dict | None) -> float | None:
    """The rate at which the machine's cores would be fully busy with this step's CPU per request:
    an upper bound for any concurrency."""
    machine = (step or {}).get("cpu_ms_per_request", {}).get("machine")
    return round((os.cpu_count() or 1) * 1000 / machine, 1) if machine else None


def run_step(base: str, sessions: list[Session], concurrency: int, seconds: float, seed: int) -> dict:
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    per_op: dict[str, list[float]] = {}
    errors: Counter = Counter()
    counts: Counter = Counter()
    ops = list(MIX)
    weights = [MIX[o] for o in ops]

    def worker(index: int):
        rng = random.Random(seed * 1000 + index)  # noqa: S311
        while time.monotonic() < stop_at:
            session = rng.choice(sessions)
            op = rng.choices(ops, weights)[0]
            choices = session.ops.get(op)
            if not choices:
                op = "list" if "list" in session.ops else next(iter(session.ops))
                choices = session.ops[op]
            target = rng.choice(choices)
            method, url, data = target if isinstance(target, tuple) else ("GET", target, None)
            try:
                status, _payload, ms = request(base, session, method, url, data)
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors[f"{op}:{type(exc).__name__}"] += 1
                    counts[op] += 1
                continue
            with lock:
                latencies.append(ms)
                per_op.setdefault(op, []).append(ms)
                counts[op] += 1
                if status >= 400:
                    errors[f"{op}:{status}"] += 1
            if op == "write_followup_done" and status < 400:
                # Done once; marking it again is a no-op the view may refuse.
                with contextlib.suppress(ValueError):
                    session.ops[op].remove(target)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 15)
    elapsed = time.monotonic() - started
    total = sum(counts.values())
    return {
        "concurrency": concurrency,
        "requests": total,
        "rps": round(total / elapsed, 1) if elapsed else 0,
        "p50": round(percentile(latencies, 50), 1),
        "p95": round(percentile(latencies, 95), 1),
        "p99": round(percentile(latencies, 99), 1),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(5)),
        "per_op_p95": {op: round(percentile(v, 95), 1) for op, v in sorted(per_op.items())},
        "mix": dict(counts),
    }


def start_gunicorn(port: int, workers: int, env: dict) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    cmd = [
        str(gunicorn) if gunicorn.exists() else "gunicorn",
        "crm.wsgi",
        "-w",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "30",
        "--graceful-timeout",
        "5",
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_ready(base: str, proc: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    parsed = urllib.parse.urlsplit(base)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=2)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            if ok:
                return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short step (CI)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--concurrency", help="comma-separated client concurrency per step (default 4,8,16,24)")
    parser.add_argument("--step-seconds", type=float, help="seconds per step (default 20, quick 6)")
    parser.add_argument("--time-limit", type=float, help="stop after this many seconds (default 300, quick 38)")
    args = parser.parse_args(argv)
    deadline = Deadline(args.time_limit or (38 if args.quick else 300))
    steps = [int(c) for c in (args.concurrency or ("4" if args.quick else "4,8,16,24")).split(",")]
    step_seconds = args.step_seconds or (6 if args.quick else 20)

    from bench.common import setup_django

    setup_django()
    from django.conf import settings

    emit("bench_context", None, "", None, database=database_label(), script="bench_load", **machine())
    sessions = build_sessions(args.quick)
    note(f"{len(sessions)} sessions ready after {deadline.seconds - deadline.left():.0f}s")
    if not sessions:
        note("no users with visible customers: seed the database first (manage.py seed_scale)")
        emit("load.errors", None, "errors", None, note="no sessions")
        return 0
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = start_gunicorn(port, args.workers, env)
    results = []
    try:
        if not wait_ready(base, proc, min(30, deadline.left())):
            err = proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
            note(f"gunicorn did not become ready: {err[-2000:]}")
            emit("load.errors", None, "errors", None, note="gunicorn did not start")
            return 0
        form_check(base, sessions)
        if not args.quick:
            # Warm every worker (imports, templates, connections) before measuring; in --quick
            # the first step warms them (CI wants a figure, not precision).
            run_step(base, sessions, args.workers * 2, 5, seed=0)
        note(f"ready to measure after {deadline.seconds - deadline.left():.0f}s")
        for i, concurrency in enumerate(steps, start=1):
            seconds = min(step_seconds, deadline.left() - 5)  # 5 s for stopping gunicorn and the summary
            if seconds < 3:
                note("time limit reached; remaining steps skipped")
                break
            web_pids = children_of(proc.pid)
            before = cpu_snapshot(web_pids)
            result = run_step(base, sessions, concurrency, seconds, seed=i)
            result["cpu_ms_per_request"] = cpu_per_request(before, cpu_snapshot(web_pids), result["requests"])
            results.append(result)
            emit(
                "load.step",
                result["rps"],
                "req/s",
                None,
                concurrency=concurrency,
                p50=result["p50"],
                p95=result["p95"],
                p99=result["p99"],
                requests=result["requests"],
                errors=result["errors"],
                error_kinds=result["error_kinds"] or None,
                per_op_p95=result["per_op_p95"],
                cpu_ms_per_request=result["cpu_ms_per_request"],
            )
            if result["p95"] > 3 * P95_BUDGET_MS:
                note("p95 far beyond the budget; higher concurrency would only queue")
                break
        workers = children_of(proc.pid)
        rss = {pid: proc_peak_rss_mb(pid) for pid in workers}
        values = [v for v in rss.values() if v is not None]
        if values:
            emit(
                "memory.web_worker_peak_rss",
                max(values),
                "MB",
                None,
                workers=len(values),
                all_workers=sorted(values),
                note="VmHWM of each gunicorn worker after the load test",
            )
    finally:
        stop_gunicorn(proc)
    within = [r for r in results if r["p95"] <= P95_BUDGET_MS]
    best = max(within, key=lambda r: r["rps"]) if within else None
    emit(
        "load.rps_at_p95_200ms",
        best["rps"] if best else 0,
        "req/s",
        None,
        concurrency=best["concurrency"] if best else None,
        p95=best["p95"] if best else None,
        target=TARGET_RPS,
        meets_target=bool(best and best["rps"] >= TARGET_RPS and best["errors"] == 0),
        sessions=len(sessions),
        workers=args.workers,
        cpu_ms_per_request=best["cpu_ms_per_request"] if best else None,
        cpu_bound_rps=_cpu_bound_rps(best),
        conn_max_age=settings.DATABASES["default"].get("CONN_MAX_AGE"),
    )
    emit("load.errors", sum(r["errors"] for r in results), "errors", None, target=0)
    mix = Counter()
    for r in results:
        mix.update(r["mix"])
    emit("load.mix", sum(mix.values()), "requests", None, by_operation=dict(mix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
