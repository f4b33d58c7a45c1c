"""One helper for the audit trail of sensitive reads and bulk writes.

django-auditlog logs model saves and deletes through signals; it does not see list views,
exports, unmasking, `QuerySet.update` or `bulk_*`. Those paths call `log_access` / `log_event`
here. The client address comes from `client_ip`, which trusts X-Forwarded-For only behind the
configured number of proxies (auditlog's own middleware trusts its left-most entry).
"""

from __future__ import annotations

from auditlog.middleware import AuditlogMiddleware
from auditlog.models import LogEntry
from django.conf import settings


def client_ip(request) -> str | None:
    if request is None:
        return None
    proxies = getattr(settings, "AXES_IPWARE_PROXY_COUNT", None) or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR")


class TrustedProxyAuditlogMiddleware(AuditlogMiddleware):
    """auditlog's middleware with the client address taken from the trusted proxy setting."""

    @staticmethod
    def _get_remote_addr(request):
        return client_ip(request)

    @staticmethod
    def _get_remote_port(request):
        return None


def log_access(*, actor, obj, what: str, request=None, **detail) -> LogEntry:
    """Record a sensitive read (360 view, unmask, export …) of `obj` by `actor`."""
    return LogEntry.objects.log_create(
        obj,
        force_log=True,
        action=LogEntry.Action.ACCESS,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        remote_addr=client_ip(request),
        additional_data={"what": what, **detail},
        changes={},
    )


def log_event(*, actor, obj, what: str, action=LogEntry.Action.UPDATE, request=None, changes=None, **detail):
    """Record a write auditlog's signals cannot see (bulk moves, grants, merges, imports)."""
    return LogEntry.objects.log_create(
        obj,
        force_log=True,
        action=action,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        remote_addr=client_ip(request),
        additional_data={"what": what, **detail},
        changes=changes or {},
    )
