"""The visibility predicate's two SQL forms on PostgreSQL: `= ANY(ARRAY(subquery))` against `IN (subquery)`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_visibility \\
        .venv/bin/python bench/bench_visibility_sql.py [--customers 200000] [--shares 20000] [--runs 15]

Migrates the database named by DATABASE_URL, seeds it once (idempotent: a rerun with the same sizes
reuses the rows; --reseed starts over) with the demo org, 2,000 users, the customers and the shares,
runs ANALYZE, and then times `SELECT count(*)` of the customers visible to a few personas, with the
predicate as sharing.principal.visibility_q builds it (`id = ANY(ARRAY(live shares))`) and with the
obvious `id IN (SELECT … live shares)` form. Prints one JSON line per persona and form, e.g.
{"metric": "visibility.count_ms", "value": 3.1, "unit": "ms", "persona": "rep", "form": "any_array", …}
with `value` the median and p95/min/max/n and the plan's top node in the extra keys; progress goes
to stderr. docs/adr/0002-visibility-predicate.md records the figures.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, note, setup_django  # noqa: E402

PREFIX = "VB"  # customer numbers and usernames of this bench's rows


def seed(customers: int, shares: int, reseed: bool) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection, transaction

    from crm.demo import ensure_org, role_group
    from customers.models import Customer
    from sharing.models import CustomerGroupShare, CustomerUserShare, Membership

    User = get_user_model()
    have = Customer.objects.filter(number__startswith=PREFIX).count()
    have_shares = CustomerUserShare.objects.filter(user__username__startswith="vb_").count()
    if have == customers and have_shares >= shares and not reseed:
        note(f"reusing {have} customers and {have_shares} shares")
        return
    note("seeding …")
    with transaction.atomic():
        CustomerUserShare.objects.filter(user__username__startswith="vb_").delete()
        CustomerGroupShare.objects.filter(content_object__number__startswith=PREFIX).delete()
        Customer.objects.filter(number__startswith=PREFIX).delete()
        Membership.objects.filter(user__username__startswith="vb_").delete()
        User.objects.filter(username__startswith="vb_").delete()

        units = list(ensure_org().values())
        rep_group, manager_group = role_group("sales_rep"), role_group("sales_manager")
        users = User.objects.bulk_create([User(username=f"vb_{i:04d}", is_active=True) for i in range(2000)])
        Membership.objects.bulk_create(
            [Membership(user=u, unit=units[i % len(units)], is_manager=i < len(units)) for i, u in enumerate(users)]
        )
        through = User.groups.through
        through.objects.bulk_create(
            [
                through(user_id=u.pk, group_id=(manager_group if i < len(units) else rep_group).pk)
                for i, u in enumerate(users)
            ]
        )
        first_user, unit_ids = users[0].pk, [u.pk for u in units]
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO customers_customer (number, kind, name, name_normalized, owner_id, org_unit_id, status,
                    source, province, city, version, created_at, updated_at)
                SELECT %s || lpad(i::text, 8, '0'), 'company', '基准客户' || i, '基准客户' || i,
                    %s + (i %% 2000), (%s::bigint[])[1 + (i %% %s)], 'active', 'other', '', '', 1, now(), now()
                FROM generate_series(1, %s) AS i
                """,
                [PREFIX, first_user, unit_ids, len(unit_ids), customers],
            )
            view = Permission.objects.get(content_type__app_label="customers", codename="view_customer").pk
            # 90 % of the shares spread over everyone, 10 % held by one heavy user (vb_1999).
            cursor.execute(
                """
                INSERT INTO sharing_customerusershare (user_id, content_object_id, permission_id, expires_at,
                    reason, created_at)
                SELECT DISTINCT ON (u, c) u, c, %s,
                    CASE WHEN g %% 3 = 0 THEN now() - interval '1 day' WHEN g %% 3 = 1 THEN now() + interval '30 days'
                         ELSE NULL END, 'bench', now()
                FROM (
                    SELECT g,
                        CASE WHEN g %% 10 = 0 THEN %s ELSE %s + (g * 7919) %% 2000 END AS u,
                        (SELECT min(id) FROM customers_customer WHERE number LIKE %s) + (g * 104729) %% %s AS c
                    FROM generate_series(1::bigint, %s::bigint) AS g
                ) AS s
                """,
                [view, users[-1].pk, first_user, f"{PREFIX}%", customers, shares],
            )
            cursor.execute(
                """
                INSERT INTO sharing_customergroupshare (group_id, content_object_id, permission_id, expires_at,
                    reason, created_at)
                SELECT %s, (SELECT min(id) FROM customers_customer WHERE number LIKE %s) + (g * 15485863) %% %s, %s,
                    NULL, 'bench', now()
                FROM generate_series(1::bigint, %s::bigint) AS g
                ON CONFLICT DO NOTHING
                """,
                [rep_group.pk, f"{PREFIX}%", customers, view, max(1, shares // 40)],
            )
            for table in ("customers_customer", "sharing_customerusershare", "sharing_customergroupshare"):
                cursor.execute(f"ANALYZE {table}")  # noqa: S608  (fixed table names)
    note("seeded")


def in_subquery_form(principal, action="view"):
    """The rejected form: the same predicate with `id IN (SELECT …)`."""
    from django.db.models import Q
    from django.utils import timezone

    from customers.models import Customer
    from sharing.models import CustomerGroupShare, CustomerUserShare
    from sharing.principal import share_permission_ids

    scope = principal.scope(action)
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    perms = share_permission_ids(action)
    q = Q(owner_id=principal.user_id) | Q(
        pk__in=CustomerUserShare.objects.filter(live, user_id=principal.user_id, permission_id__in=perms).values(
            "content_object_id"
        )
    )
    if principal.group_ids:
        q |= Q(
            pk__in=CustomerGroupShare.objects.filter(
                live, group_id__in=sorted(principal.group_ids), permission_id__in=perms
            ).values("content_object_id")
        )
    if scope.unit_ids:
        q |= Q(org_unit_id__in=sorted(scope.unit_ids))
    return Customer.objects.filter(q)


def time_count(queryset, runs: int) -> tuple[list[float], int, str]:
    from django.db import connection

    sql, params = queryset.values("pk").query.sql_with_params()
    count_sql = f"SELECT count(*) FROM ({sql}) AS visible"  # noqa: S608  (SQL compiled by Django)
    samples = []
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + count_sql, params)
        plan = [row[0] for row in cursor.fetchall()]
        cursor.execute(count_sql, params)  # warm-up
        count = cursor.fetchone()[0]
        for _ in range(runs):
            started = time.perf_counter()
            cursor.execute(count_sql, params)
            cursor.fetchone()
            samples.append((time.perf_counter() - started) * 1000)
    nodes = []
    for line in plan:
        match = re.match(r"\s*(?:->\s+)?([A-Z][A-Za-z ]+?)(?:\s+on\s|\s+using\s|\s+\(|$)", line)
        name = match.group(1).strip() if match else ""
        if "SubPlan" in line:
            name = "SubPlan"
        elif "InitPlan" in line:
            name = "InitPlan"
        if name and name not in nodes:
            nodes.append(name)
    return samples, count, ", ".join(nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--shares", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()

    setup_django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db.models import Count

    from customers.models import Customer
    from sharing.principal import get_principal

    call_command("migrate", verbosity=0)
    seed(args.customers, args.shares, args.reseed)
    User = get_user_model()
    reps = User.objects.filter(username__startswith="vb_", groups__policy__code="sales_rep")
    personas = {
        "rep": reps.annotate(n=Count("customerusershare")).filter(n__gte=5, n__lte=20).order_by("pk").first(),
        "rep_heavy_sharer": User.objects.get(username="vb_1999"),
        "province_manager": User.objects.filter(
            username__startswith="vb_", membership__is_manager=True, membership__unit__kind="province"
        ).first(),
    }
    for label, user in personas.items():
        principal = get_principal(user)
        shares = user.customerusershare_set.count()
        for form, queryset in (
            ("any_array", Customer.objects.visible_to(user)),
            ("in_subquery", in_subquery_form(principal)),
        ):
            samples, count, plan = time_count(queryset, args.runs)
            ordered = sorted(samples)
            emit(
                "visibility.count_ms",
                round(statistics.median(samples), 2),
                "ms",
                persona=label,
                form=form,
                p95=round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
                min=round(ordered[0], 2),
                max=round(ordered[-1], 2),
                n=len(samples),
                visible=count,
                user_shares=shares,
                scope_units=len(principal.scope("view").unit_ids),
                customers=args.customers,
                shares=args.shares,
                plan=plan,
            )


if __name__ == "__main__":
    main()
