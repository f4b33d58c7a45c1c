"""`field__any_array=subquery`: `field = ANY(ARRAY(subquery))` on PostgreSQL.

PostgreSQL plans `id = ANY(ARRAY(SELECT ...))` as an index scan driven by a pre-computed array,
which it can BitmapOr with the other branches of the visibility predicate; `id IN (SELECT ...)`
inside an OR chain becomes a hashed SubPlan filter over every row (measured 120-200 ms per count
at 1M customers, see docs/adr/0002-visibility-predicate.md). Other databases get plain IN.
"""

from django.db.models import Field, Lookup


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
