"""Reusable filters of the dedup app. Pairs and journals inherit customer visibility on both sides."""

from django.db import models
from django.db.models import Q


class CandidatePairQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status="open")

    def visible_to(self, user, action: str = "view"):
        """Pairs whose two customers `user` may both see (or change): the one predicate, twice."""
        from sharing.principal import get_principal, visibility_q

        principal = get_principal(user)
        if not principal.is_authenticated:
            return self.none()
        qs = self
        for prefix in ("a__", "b__"):
            q = visibility_q(principal, action, prefix=prefix)
            if q is not None:
                qs = qs.filter(q)
        return qs

    def involving(self, customer_id: int):
        return self.filter(Q(a_id=customer_id) | Q(b_id=customer_id))

    def between(self, x: int, y: int):
        a, b = (x, y) if x < y else (y, x)
        return self.filter(a_id=a, b_id=b)

    def in_band(self, band: str):
        return self.filter(band=band) if band else self


class DedupJobQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=["queued", "running", "cancelling"])


class MergeJournalQuerySet(models.QuerySet):
    def visible_to(self, user, action: str = "view"):
        """Journals whose survivor and duplicate `user` may both see (or change)."""
        from sharing.principal import get_principal, visibility_q

        principal = get_principal(user)
        if not principal.is_authenticated:
            return self.none()
        qs = self.exclude(survivor=None).exclude(duplicate=None)
        for prefix in ("survivor__", "duplicate__"):
            q = visibility_q(principal, action, prefix=prefix)
            if q is not None:
                qs = qs.filter(q)
        return qs
