"""PostgreSQL timestamps read by psycopg's C loader, not its Python one.

Django (5.2) registers its own `timestamptz` loader on every connection so that datetimes carry the
connection's time zone. It derives from psycopg's pure-Python `TimestamptzLoader`, so even with
psycopg[binary] every timestamp is parsed in Python: 5.4 µs a value against 0.33 µs in C, about
0.5 ms of a request of the load test's mix (Django ticket #36960, psycopg issue #1273;
docs/performance.md, session 7). On each new connection this module registers a loader that lets
the C loader parse and then sets the time zone exactly as Django's does (`replace(tzinfo=...)`).
Django keeps it: its cursor only re-registers when the loader's `timezone` differs from the
connection's. Without the C implementation (psycopg's pure-Python build) nothing changes.
"""

from __future__ import annotations

from functools import cache

from django.db.backends.signals import connection_created
from django.dispatch import receiver

_SAMPLE = b"2000-01-01 00:00:00+00"


@cache
def _loader_class(tz):
    """A Django-compatible `timestamptz` loader for `tz` that parses in C, or None without C."""
    import psycopg
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader
    from psycopg.adapt import Loader
    from psycopg.pq import Format
    from psycopg.types.datetime import TimestamptzLoader

    oid = psycopg.adapters.types["timestamptz"].oid
    fast = psycopg.adapters.get_loader(oid, Format.TEXT)  # the optimised class when there is one
    if fast is None or fast is TimestamptzLoader or issubclass(fast, BaseTzLoader):
        return None

    class CTimestamptzLoader(BaseTzLoader):
        timezone = tz

        def __init__(self, oid, context=None):
            # Only psycopg's base set-up: the Python parser's own (a DateStyle check) is not used.
            Loader.__init__(self, oid, context)
            self._parse = fast(oid, context).load
            if self._parse(_SAMPLE).tzinfo is tz:
                # The session's time zone is Django's (UTC): the C result is already what
                # `replace` gives below, so the C method itself serves (0.33 µs a value).
                self.load = self._parse

        def load(self, data):
            return self._parse(data).replace(tzinfo=tz)

    return CTimestamptzLoader


@receiver(connection_created, dispatch_uid="crm.pgtypes.c_timestamptz")
def use_c_timestamptz_loader(sender, connection, **kwargs):
    if connection.vendor != "postgresql":
        return
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    if not is_psycopg3:
        return
    loader = _loader_class(connection.timezone)
    if loader is not None:
        connection.connection.adapters.register_loader("timestamptz", loader)
