"""Shared furniture of the bench scripts: Django setup, JSON lines, statistics, personas, deadlines.

Every metric is printed as one JSON object per line on stdout:
{"metric": "page.customers_list", "value": 23.4, "unit": "ms", "persona": "executive", "p50": 12.1, ...}
`value` is the figure the target in docs/performance.md is about (p95 for latencies); extra keys
give context (p50, n, queries, target, meets_target). Human-readable progress goes to stderr.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(settings_module: str = "bench.settings") -> None:
    """Import Django with the bench settings (production-like) and the repository on sys.path."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        note("DATABASE_URL is not a PostgreSQL URL: the figures will not mean much (the bench targets PostgreSQL)")
    import django

    django.setup()


def emit(metric: str, value, unit: str, persona: str | None = None, **extra) -> None:
    record = {"metric": metric, "value": value, "unit": unit, "persona": persona}
    record.update({k: v for k, v in extra.items() if v is not None})
    print(json.dumps(record, ensure_ascii=False), flush=True)


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 20 samples is the 19th smallest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(samples_ms: list[float]) -> dict:
    return {
        "p50": round(percentile(samples_ms, 50), 2),
        "p95": round(percentile(samples_ms, 95), 2),
        "max": round(max(samples_ms), 2) if samples_ms else None,
        "n": len(samples_ms),
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports kilobytes)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def proc_peak_rss_mb(pid: int) -> float | None:
    """VmHWM (peak RSS) of another process, from /proc."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(int(entry))
    return found


@dataclass
class Deadline:
    """A time budget: every loop asks `left()` and stops by itself."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def expired(self) -> bool:
        return self.left() <= 0


# --- Personas -----------------------------------------------------------------------------------

# persona label → (username seeded by seed_scale / seed_demo, role code to fall back on)
PERSONAS = {
    "executive": ("ceo", "executive"),
    "provincial_manager": ("gd_manager", "sales_manager"),
    "regional_rep": ("sz_rep", "sales_rep"),
    "dealer": ("dealer1", "dealer"),
    "service_agent": ("service1", "service_agent"),
    "finance_clerk": ("finance1", "finance_clerk"),
    "big_share": ("scale_share20k", None),
}


def persona_users() -> dict:
    """persona label → User. Seeded names first; otherwise any active user with that role."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    found = {}
    for label, (username, role) in PERSONAS.items():
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None and role:
            user = User.objects.filter(groups__policy__code=role, is_active=True, is_superuser=False).first()
        if user is None:
            note(f"persona {label}: no user {username!r} (run seed_scale); skipped")
            continue
        found[label] = user
    return found


def url_or_none(name: str, *args, **kwargs) -> str | None:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(name, args=args or None, kwargs=kwargs or None)
    except NoReverseMatch:
        return None


def dashboard_urls() -> dict[str, str]:
    """Dashboards: `home` (the workbench) and every URL named like *dashboard* without arguments."""
    from django.urls import get_resolver

    found = {}
    home = url_or_none("home")
    if home:
        found["home"] = home

    def walk(resolver, namespace=""):
        for pattern in resolver.url_patterns:
            if hasattr(pattern, "url_patterns"):
                ns = pattern.namespace or ""
                walk(pattern, f"{namespace}{ns}:" if ns else namespace)
            elif pattern.name and "dashboard" in pattern.name:
                url = url_or_none(f"{namespace}{pattern.name}")
                if url:
                    found[f"{namespace}{pattern.name}".replace(":", "_")] = url

    walk(get_resolver())
    return found


def database_label() -> str:
    from django.db import connection

    settings = connection.settings_dict
    return f"{connection.vendor}:{settings.get('NAME')}"


def machine() -> dict:
    """Where the figures come from: cores, memory, PostgreSQL version, DEBUG, the shared cache."""
    from django.conf import settings
    from django.db import connection

    info = {
        "cpus": os.cpu_count(),
        "debug": settings.DEBUG,
        "shared_cache": getattr(settings, "CRM_PRINCIPAL_CACHE_SECONDS", 0) > 0,
    }
    try:
        with open("/proc/meminfo") as f:
            info["mem_gb"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            info["postgres"] = cursor.fetchone()[0]
            cursor.execute("SHOW shared_buffers")
            info["shared_buffers"] = cursor.fetchone()[0]
    with contextlib.suppress(OSError):
        info["loadavg_1m"] = round(os.getloadavg()[0], 2)
    return info


# --- Forms: what a browser would post back ------------------------------------------------------


class _FormParser:
    """Collect the fields of every <form method="post"> the way a browser submits them."""

    def __init__(self):
        from html.parser import HTMLParser

        outer = self
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._select_chosen = False
        self._textarea: str | None = None
        self._text: list[str] = []

        class Parser(HTMLParser):
            def handle_starttag(self, tag, attrs):
                outer._start(tag, dict(attrs))

            def handle_startendtag(self, tag, attrs):
                outer._start(tag, dict(attrs))

            def handle_endtag(self, tag):
                outer._end(tag)

            def handle_data(self, data):
                if outer._textarea is not None:
                    outer._text.append(data)

        self.parser = Parser(convert_charrefs=True)

    def _start(self, tag, a):
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": (a.get("method") or "get").lower(), "fields": []}
            return
        form = self._form
        if form is None:
            return
        name = a.get("name")
        if tag == "input" and name and "disabled" not in a:
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    form["fields"].append((name, a.get("value", "on")))
            elif kind not in ("submit", "button", "image", "file", "reset"):
                form["fields"].append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select, self._select_first, self._select_chosen = name, None, False
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in a and not self._select_chosen:
                form["fields"].append((self._select, value))
                self._select_chosen = True
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def _end(self, tag):
        if tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None
        elif tag == "select" and self._select is not None:
            if not self._select_chosen and self._select_first is not None and self._form is not None:
                self._form["fields"].append((self._select, self._select_first))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            if self._form is not None:
                self._form["fields"].append((self._textarea, "".join(self._text).lstrip("\n")))
            self._textarea = None


def post_forms(html: str) -> list[dict]:
    """[{action, fields: [(name, value), …]}] of the page's POST forms, as a browser would send them."""
    parser = _FormParser()
    parser.parser.feed(html)
    return [f for f in parser.forms if f["method"] == "post"]


def fill_form(fields: list[tuple[str, str]], overrides: dict[str, str]) -> list[tuple[str, str]]:
    """The form's fields with some values replaced (or added)."""
    out, seen = [], set()
    for name, value in fields:
        if name in overrides:
            if name in seen:
                continue
            value = overrides[name]
            seen.add(name)
        out.append((name, value))
    out.extend((k, v) for k, v in overrides.items() if k not in seen and k not in {n for n, _ in fields})
    return out
