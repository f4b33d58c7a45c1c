"""Top navigation of the site shell.

Items point at URL names that the apps provide. An app that has not wired its page yet simply has
no item: a name that does not reverse is left out instead of breaking every page, so engineers can
add apps and pages in any order.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class NavItem:
    """One entry of the top navigation.

    ``url_names`` are tried in order and the first that reverses wins, so an item can follow a page
    that may live under either of two names while apps settle.
    """

    key: str
    label: str | Promise
    url_names: tuple[str, ...]
    staff_only: bool = False
    # A principal flag (sharing.principal.FLAG_NAMES) the user needs to see the item at all.
    flag: str | None = None


NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("customers", _("Customers"), ("customers:list",)),
    NavItem("followups", _("Today's follow-ups"), ("interactions:followups",)),
    NavItem("pool", _("Public pool"), ("teams:pool",)),
    NavItem("inbox", _("Access inbox"), ("sharing:inbox",)),
    NavItem("duplicates", _("Duplicates"), ("dedup:queue",)),
    NavItem("import", _("Import"), ("customers_io:import-start",), flag="can_import"),
    NavItem("dashboards", _("Dashboards"), ("dashboards:index",)),
    NavItem("campaigns", _("Campaigns"), ("interactions:campaign_list",)),
    NavItem("audit", _("Audit"), ("audit:log",), flag="can_view_audit"),
    NavItem("admin", _("Admin"), ("admin:index",), staff_only=True),
)


def _first_url(url_names: tuple[str, ...]) -> str | None:
    """The first name that reverses, remembered per URL configuration and script prefix: the header
    reverses a dozen names on every page (about 0.3 ms of CPU a request otherwise)."""
    key = (settings.ROOT_URLCONF, get_urlconf(), get_script_prefix(), url_names)
    try:
        return _REVERSED[key]
    except KeyError:
        pass
    url = None
    for name in url_names:
        try:
            url = reverse(name)
            break
        except NoReverseMatch:
            continue
    if len(_REVERSED) < 1000:  # a handful of names; the bound only guards against misuse
        _REVERSED[key] = url
    return url


_REVERSED: dict[tuple, str | None] = {}


@receiver(setting_changed)
def _forget_reversed(*, setting, **kwargs):
    """Tests that swap the URL configuration see their own URLs."""
    if setting == "ROOT_URLCONF":
        _REVERSED.clear()


def _principal_may(user, flag: str) -> bool:
    from sharing.principal import get_principal

    return get_principal(user).may(flag)


def nav_items(request, items: tuple[NavItem, ...] = NAV_ITEMS) -> list[dict]:
    """The navigation entries this request's user sees, with the current one marked.

    Anonymous users get none. The item whose URL is the longest prefix of the current path is
    active, so a customer's detail page keeps "Customers" highlighted. Whether the user may open a
    page is still decided by the page itself; the menu only hides what cannot exist yet, what is
    staff-only and what needs a role flag the user lacks.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    entries = []
    for item in items:
        if item.staff_only and not user.is_staff:
            continue
        if item.flag and not _principal_may(user, item.flag):
            continue
        url = _first_url(item.url_names)
        if url is None:
            continue
        entries.append({"key": item.key, "label": item.label, "url": url, "active": False})
    path = request.path
    matches = [e for e in entries if e["url"] != "/" and path.startswith(e["url"])]
    if matches:
        max(matches, key=lambda e: len(e["url"]))["active"] = True
    return entries


def optional_url(*url_names: str) -> str | None:
    """The URL of the first name that reverses, or None: for links to pages that may not exist yet."""
    return _first_url(url_names)
