"""Pagination for lists that may match a million rows.

Counting every visible row of a broad scope reads most of the table: an executive's customer
count is a sequential scan of 1,000,000 rows (370-550 ms), a provincial manager's a bitmap heap
scan touching nearly every page (340-800 ms) — docs/performance.md, finding 1. Nobody pages
through 40,000 pages either. `CappedPaginator` counts at most `cap` rows
(`SELECT count(*) FROM (… LIMIT cap + 1)`, which PostgreSQL stops early), shows "1,000+" and
offers the pages up to the cap; the list asks the user to narrow the filters for the rest.

The count only ever counts rows of the queryset it is given (already filtered by `visible_to`),
so a capped count reveals nothing a full count would not.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.formats import number_format
from django.utils.functional import cached_property

DEFAULT_CAP = 1000


class CappedPaginator(Paginator):
    def __init__(self, object_list, per_page, *, cap: int | None = None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap or DEFAULT_CAP

    @cached_property
    def _capped_count(self) -> tuple[int, bool]:
        object_list = self.object_list
        if hasattr(object_list, "order_by") and hasattr(object_list, "query"):
            return capped_count(object_list, self.cap)
        return min(len(object_list), self.cap), len(object_list) > self.cap

    @cached_property
    def count(self) -> int:
        return self._capped_count[0]

    @property
    def capped(self) -> bool:
        """True when more rows match than were counted (the count shows "cap+")."""
        return self._capped_count[1]

    @property
    def count_label(self) -> str:
        return count_label(self.count, self.capped)


def capped_count(queryset, cap: int = DEFAULT_CAP) -> tuple[int, bool]:
    """(count, capped): at most `cap` rows counted, capped=True when more exist (show "cap+")."""
    return cap_count(queryset.order_by()[: cap + 1].count(), cap)


def cap_count(count: int, cap: int = DEFAULT_CAP) -> tuple[int, bool]:
    """An exact (or cap+1-limited) count as `capped_count` answers it: (at most `cap`, was it more)."""
    return min(count, cap), count > cap


def count_label(count: int, capped: bool) -> str:
    """The count for display, grouped by the locale, with "+" when it was capped ("1,000+")."""
    label = number_format(count, force_grouping=True)
    return f"{label}+" if capped else label
