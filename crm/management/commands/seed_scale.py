"""Load a large company's worth of data into PostgreSQL for benchmarks (issue #9).

    python manage.py seed_scale                 # 1,000,000 customers, 2,000 users, 100,000 shares, …
    python manage.py seed_scale --small         # tiny sizes for tests and CI
    python manage.py seed_scale --reset         # truncate the customer data and load again
    python manage.py seed_scale --only interactions   # (re)load one part into a seeded database
    python manage.py seed_scale --only matchkeys --engine-keys   # every dedup key, by the engine

Runs set-based SQL inside PostgreSQL (see crm/scale.py); refuses to run on SQLite. Without
--reset a database that already holds customers is left alone, so a second run changes nothing.
"""

import json
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from crm.scale import AlreadySeeded, Seeder, SeedError, sizes_for


class Command(BaseCommand):
    help = "Bulk-load 1M customers, 2,000 users, 100k shares and interactions into PostgreSQL for benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--small", action="store_true", help="tiny sizes for tests and CI (2,000 customers)")
        parser.add_argument("--reset", action="store_true", help="truncate customer data and scale users first")
        parser.add_argument("--customers", type=int, help="number of customers (default 1,000,000)")
        parser.add_argument("--users", type=int, help="number of users including the demo personas (default 2,000)")
        parser.add_argument("--groups", type=int, help="number of project groups (default 200)")
        parser.add_argument("--shares", type=int, help="explicit shares in all (default 100,000)")
        parser.add_argument("--big-share", type=int, dest="big_share", help="customers in the big group share")
        parser.add_argument("--activities", type=int, help="activities and documents (default 5,000,000)")
        parser.add_argument("--cases", type=int, help="service cases (default 200,000)")
        parser.add_argument("--regions", type=int, help="regional offices (default 320)")
        parser.add_argument("--dealers", type=int, help="dealer units (default 100)")
        parser.add_argument(
            "--only", choices=["interactions", "matchkeys"], help="reload one part into an already seeded database"
        )
        parser.add_argument(
            "--engine-keys",
            action="store_true",
            help="compute every dedup match key with the engine (names, addresses; ~1 ms per customer per core) "
            "instead of the set-based phone/email/credit-code/identity keys",
        )
        parser.add_argument("--json", action="store_true", help="print the row counts as one JSON line at the end")

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "seed_scale needs PostgreSQL: set DATABASE_URL=postgres://user@host:5432/dbname. "
                "SQLite cannot hold a million-customer benchmark; use `manage.py seed_demo` there."
            )
        for name in (
            "customers",
            "users",
            "groups",
            "shares",
            "big_share",
            "activities",
            "cases",
            "regions",
            "dealers",
        ):
            value = options.get(name)
            if value is not None and value < 0:
                raise CommandError(f"--{name.replace('_', '-')} must not be negative")
        if options.get("customers") == 0:
            raise CommandError("--customers must be at least 1")
        sizes = sizes_for(
            small=options["small"],
            customers=options.get("customers"),
            users=options.get("users"),
            groups=options.get("groups"),
            shares=options.get("shares"),
            big_share=options.get("big_share"),
            activities=options.get("activities"),
            cases=options.get("cases"),
            regions=options.get("regions"),
            dealers=options.get("dealers"),
        )
        started = time.monotonic()
        seeder = Seeder(sizes, write=self.stdout.write)
        self.stdout.write(f"seed_scale: {sizes}")
        try:
            if options["only"]:
                stats = seeder.run_part(options["only"], engine_keys=options["engine_keys"])
            else:
                stats = seeder.run(reset=options["reset"], engine_keys=options["engine_keys"])
        except AlreadySeeded as exc:
            self.stdout.write(str(exc))
            return
        except SeedError as exc:
            raise CommandError(str(exc)) from exc
        # Memberships, groups and grants were written with bulk SQL, which sends no signals: void the
        # principals cached across requests (sharing/principal.py, ADR 0014).
        from sharing.principal import sharing_changed

        sharing_changed()
        elapsed = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"seed_scale finished in {elapsed:.0f}s: {stats}"))
        if options["json"]:
            self.stdout.write(json.dumps({"metric": "seed_seconds", "value": round(elapsed, 1), "unit": "s", **stats}))
