"""`field__any_array=subquery`: `field = ANY(ARRAY(subquery))` on PostgreSQL.

PostgreSQL plans `id = ANY(ARRAY(SELECT ...))` as an index scan driven by a pre-computed array,
which it can BitmapOr with the other branches of the visibility predicate; `id IN (SELECT ...)`
inside an OR chain becomes a hashed SubPlan filter over every row (measured 120-200 ms per count
at 1M customers, see docs/adr/0002-visibility-predicate.md). Other databases get plain IN.
"""

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup
from django.db.models.lookups import In


@Field.register_lookup
class AnyArray(Lookup):
    lookup_name = "any_array"

    def get_prep_lookup(self):
        return self.rhs

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if not rhs.startswith("("):
            rhs = f"({rhs})"
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(ARRAY{rhs})", (*lhs_params, *rhs_params)
        return f"{lhs} IN {rhs}", (*lhs_params, *rhs_params)


@Field.register_lookup
class InArray(In):
    """`field__in_array=[1, 2, …]`: `field = ANY(%s)` with ONE array parameter on PostgreSQL.

    `field__in=ids` with thousands of ids renders thousands of placeholders that the driver
    interpolates client-side: 0.2-0.3 s of a 2.9 s dedup chunk went into building and converting
    such queries (5 queries of 2,000-4,000 ids). One array parameter costs nothing to build and
    PostgreSQL plans it like the IN list. Other databases get the plain IN list.
    """

    lookup_name = "in_array"

    def as_sql(self, compiler, connection):
        if connection.vendor != "postgresql" or not self.rhs_is_direct_value():
            return super().as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = [value for value in self.rhs if value is not None]
        if not values:
            raise EmptyResultSet
        return f"{lhs} = ANY(%s)", (*lhs_params, values)


# Foreign keys have their own lookup registry (`customer_id__in_array=ids` with plain ids).
ForeignObject.register_lookup(InArray)
