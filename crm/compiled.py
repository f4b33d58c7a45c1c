"""Querysets compiled to SQL once and run many times with new parameter values.

Django builds and compiles a queryset's SQL on every evaluation. For the hottest fixed-shape
queries that is most of their CPU: the customer list's page rows (a join to owner and unit and four
correlated sub-selects) took 1.2 ms to build and compile and 0.3 ms to run (docs/performance.md,
session 7). `CompiledQuery` takes a function that builds the queryset with `Slot`s where the
values go (as parameters of `RawSQL`, or wrapped by `slot_filter`), compiles it once per database
alias and vendor, and then only substitutes the values and reads the rows. Models are built the
way Django's `ModelIterable` builds them: `from_db`, the select_related objects, annotations and
the fields' converters. A `values_list()` queryset gives its rows as tuples (`rows()`).

Only for querysets whose SQL does not depend on anything but the slots' values: no `__in` lists
whose length varies, no current time zone or language in the SQL, no prefetching (the result is a
plain list). The tests of each use compare its rows with the ORM's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections, router
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.query import ModelIterable, get_related_populators


class Slot:
    """A named placeholder for a parameter value; compared by identity."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"Slot({self.name!r})"


def slot_filter(sql: str, *params) -> RawSQL:
    """A boolean SQL condition for `QuerySet.filter()`, e.g. `slot_filter('"t"."id" = ANY(%s)', Slot("ids"))`."""
    return RawSQL(sql, params, output_field=BooleanField())  # noqa: S611 - SQL written by our code, values as parameters


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    slots: tuple[tuple[int, str], ...]
    model: type
    fields: tuple[int, int]
    init_list: tuple[str, ...]
    populators: tuple
    annotations: tuple[tuple[str, int], ...]
    converters: dict


class CompiledQuery:
    """`CompiledQuery(model, build).models(name=value, …)`: `list(build())` with the slots' values
    (`.rows(…)` for a `values_list()` queryset)."""

    def __init__(self, model: type, build: Callable[[], QuerySet]):
        self.model = model
        self.build = build
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def _compile(self, alias: str, connection) -> _Compiled:
        queryset = self.build()
        if queryset._prefetch_related_lookups:
            raise ValueError("CompiledQuery does not prefetch")
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        slots = tuple((position, value.name) for position, value in enumerate(params) if isinstance(value, Slot))
        select, klass_info = compiler.select, compiler.klass_info
        converters = compiler.get_converters([column[0] for column in select[0 : compiler.col_count]])
        if queryset._iterable_class is not ModelIterable:  # values() / values_list(): rows only
            return _Compiled(sql, tuple(params), slots, None, (0, 0), (), (), (), converters)
        select_fields = klass_info["select_fields"]
        start, end = select_fields[0], select_fields[-1] + 1
        return _Compiled(
            sql=sql,
            params=tuple(params),
            slots=slots,
            model=klass_info["model"],
            fields=(start, end),
            init_list=tuple(column[0].target.attname for column in select[start:end]),
            populators=tuple(get_related_populators(klass_info, select, alias)),
            annotations=tuple(compiler.annotation_col_map.items()),
            converters=converters,
        )

    def sql(self, using: str | None = None) -> tuple[str, tuple]:
        """The compiled SQL and its parameters (`Slot`s where values go), for tests and EXPLAIN."""
        alias = using or router.db_for_read(self.model)
        compiled = self._get(alias)
        return compiled.sql, compiled.params

    def _get(self, alias: str) -> _Compiled:
        connection = connections[alias]
        key = (alias, connection.vendor)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(alias, connection)
        return compiled

    def _execute(self, values):
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        compiled = self._get(alias)
        names = {name for _position, name in compiled.slots}
        if names != set(values):
            raise TypeError(f"values for {sorted(names)} expected, got {sorted(values)}")
        params = list(compiled.params)
        for position, name in compiled.slots:
            params[position] = values[name]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        converters = compiled.converters
        if converters:
            converted = []
            for row in rows:
                row = list(row)
                for position, (functions, expression) in converters.items():
                    for function in functions:
                        row[position] = function(row[position], expression, connection)
                converted.append(tuple(row))
            rows = converted
        return alias, compiled, rows

    def rows(self, **values) -> list[tuple]:
        """The rows as tuples, the fields' converters applied (for `values_list()` querysets)."""
        return self._execute(values)[2]

    def models(self, **values) -> list:
        alias, compiled, rows = self._execute(values)
        if compiled.model is None:
            raise TypeError("a values() queryset gives rows(), not models()")
        start, end = compiled.fields
        result = []
        for row in rows:
            obj = compiled.model.from_db(alias, compiled.init_list, row[start:end])
            for populator in compiled.populators:
                populator.populate(row, obj)
            for name, position in compiled.annotations:
                setattr(obj, name, row[position])
            result.append(obj)
        return result
