"""Reusable customer filters. `visible_to` is the only way code paths get customers."""

from django.db import models


class CustomerQuerySet(models.QuerySet):
    def visible_to(self, user, action: str = "view"):
        """Customers `user` may see (action="view") or change (action="change").

        Delegates the rule to sharing.principal: scope by role and unit, own records, live unit
        grants and live explicit shares. Anonymous or inactive users see nothing.
        """
        from sharing.principal import get_principal, visibility_q

        principal = get_principal(user)
        if not principal.is_authenticated:
            return self.none()
        q = visibility_q(principal, action)
        return self if q is None else self.filter(q)

    def active(self):
        return self.exclude(status__in=["merged", "erased"])

    def search(self, text: str):
        """Search by customer number, phone (any format), email or name prefix, using indexes."""
        from customers.search import search_filter

        return search_filter(self, text)
