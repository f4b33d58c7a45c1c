"""Reusable filters of interaction records. `visible_to` is the only way code paths get them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class KindQuerySet(models.QuerySet):
    def visible_to(self, user, action: str = "view"):
        """Records whose customer `user` may see (or change) and whose kind the user's roles may see.

        The customer predicate is sharing's one predicate, applied through `customer__`; a kind the
        roles do not list gives nothing at all (finance sees payments, not complaints).
        """
        from customers.models import Customer
        from sharing.principal import get_principal, visibility_q

        principal = get_principal(user)
        if not principal.is_authenticated or not principal.sees_kind(self.model.KIND):
            return self.none()
        q = visibility_q(principal, action)
        if q is None:
            return self
        # A semi-join on the visible customers, not the predicate OR-ed across the join: at 1M
        # customers the joined form took 1-21 s of SQL per list, this one 16-75 ms (docs/performance.md).
        return self.filter(customer_id__in=Customer.objects.filter(q).values("pk"))

    def of_visible_customer(self, user, customer):
        """One customer's records, for a page that already knows whether the viewer sees it.

        Same answer as `visible_to(user).filter(customer=customer)`: nothing unless the roles see
        the kind and the user may see the customer (`may_access_customer`, answered once per
        request), then a plain `customer_id = …` — the 360 page's sections do not each compile and
        run the visibility predicate again.
        """
        from sharing.principal import get_principal, may_access_customer

        principal = get_principal(user)
        if not principal.is_authenticated or not principal.sees_kind(self.model.KIND):
            return self.none()
        if not may_access_customer(user, customer.pk, "view"):
            return self.none()
        return self.filter(customer_id=customer.pk)

    def for_customer(self, customer):
        return self.filter(customer=customer)


class ActivityQuerySet(KindQuerySet):
    def open_followups(self):
        return self.filter(follow_up_on__isnull=False, follow_up_done=False)

    def due_today(self, today=None):
        return self.open_followups().filter(follow_up_on=today or timezone.localdate())

    def overdue(self, today=None):
        return self.open_followups().filter(follow_up_on__lt=today or timezone.localdate())

    def due_by(self, today=None):
        """Open follow-ups due today or earlier."""
        return self.open_followups().filter(follow_up_on__lte=today or timezone.localdate())

    def editable_by(self, user):
        """Activities the user may edit: visible ones they logged or are assigned (administrators: all)."""
        qs = self.visible_to(user)
        if getattr(user, "is_superuser", False):
            return qs
        return qs.filter(Q(user=user) | Q(created_by=user))


class OpportunityQuerySet(KindQuerySet):
    def open(self):
        return self.filter(stage__in=self.model.OPEN_STAGES)


class PaymentQuerySet(KindQuerySet):
    def open(self):
        return self.filter(status="open")

    def overdue(self, today=None):
        return self.open().filter(due_on__lt=today or timezone.localdate())


class ServiceCaseQuerySet(KindQuerySet):
    def open(self):
        return self.exclude(status="closed")

    def overdue(self, now=None):
        return self.open().filter(due_at__lt=now or timezone.now())
