"""The site header, written in Python.

Every HTML page renders the header: brand, navigation, search, notifications, the language switch
and the user menu. Through the template engine that was 1.2-1.3 ms of CPU per page (some sixty
nodes: variable lookups, `{% url %}`, `{% translate %}`, a `{% for %}` per list), about 5 % of an
average request of the load test's mix (docs/performance.md, session 7). This tag writes the same
markup; `crm/tests/test_site_header.py` renders the former template beside it and compares.
Every value goes through `esc` (Django's escaping); translations are trusted, as in templates.
Translated labels are assigned outside the f-strings: makemessages (xgettext) does not look
inside f-string expressions, and a label it cannot see would leave the catalogue.
"""

from __future__ import annotations

from django import template
from django.template.defaulttags import CsrfTokenNode
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, get_language_info, gettext

from crm.navigation import optional_url
from crm.rendering import esc

register = template.Library()

_CSRF = CsrfTokenNode()


_CURRENT = ' aria-current="page"'


def _nav(items) -> str:
    links = "".join(
        f'<li><a class="site-nav__link" href="{esc(item["url"])}" data-nav="{esc(item["key"])}"'
        f"{_CURRENT if item['active'] else ''}>{esc(item['label'])}</a></li>"
        for item in items
    )
    label = gettext("Main navigation")
    return f'<nav class="site-nav" aria-label="{esc(label)}"><ul class="site-nav__list">{links}</ul></nav>'


def _search(request, url: str) -> str:
    query = request.GET.get("q", "") if request is not None and request.path == url else ""
    label = esc(gettext("Search customers"))
    return (
        f'<form class="site-search" role="search" method="get" action="{esc(url)}">'
        f'<label class="visually-hidden" for="site-search">{label}</label>'
        f'<input type="search" id="site-search" name="q" data-shortcut-search placeholder="{label} ( / )"'
        f' value="{esc(query)}"></form>'
    )


def _notifications(url: str, count) -> str:
    if callable(count):
        count = count()
    badge = ""
    if count:
        unread = gettext("unread")
        badge = (
            f' <span class="badge badge--count">{esc(count)}<span class="visually-hidden"> {esc(unread)}</span></span>'
        )
    label = gettext("Notifications")
    return f'<a class="notif-link" href="{esc(url)}">{esc(label)}{badge}</a>'


def _language_switch(csrf: str, request, languages) -> str:
    current = get_language()
    buttons = []
    for code, _name in languages:
        info = get_language_info(code)
        code = esc(info["code"])
        pressed = "true" if info["code"] == current else "false"
        buttons.append(
            f'<button type="submit" name="language" value="{code}" lang="{code}" data-language="{code}"'
            f' aria-pressed="{pressed}">{esc(info["name_local"])}</button>'
        )
    next_url = request.get_full_path() if request is not None else ""
    label = gettext("Language")
    return (
        f'<form class="lang-switch" method="post" action="{esc(optional_url("set_language"))}"'
        f' aria-label="{esc(label)}">{csrf}<input type="hidden" name="next" value="{esc(next_url)}">'
        f"{''.join(buttons)}</form>"
    )


def _user_menu(csrf: str, user, display_name: str) -> str:
    signed_in = gettext("Signed in as %(name)s") % {"name": esc(user.get_username())}
    change_password, log_out = gettext("Change password"), gettext("Log out")
    return (
        f'<details class="user-menu" data-menu><summary>{esc(display_name)}</summary>'
        f'<div class="user-menu__panel"><div class="user-menu__who">{signed_in}</div>'
        f'<a href="{esc(optional_url("password_change"))}">{esc(change_password)}</a>'
        f'<form method="post" action="{esc(optional_url("logout"))}">{csrf}'
        f'<button type="submit" data-testid="logout">{esc(log_out)}</button></form>'
        "</div></details>"
    )


@register.simple_tag(takes_context=True)
def site_header(context):
    """`<header>` of base.html; reads what `crm.context_processors.navigation` puts in the context."""
    request = context.get("request")
    user = context.get("user")
    authenticated = user is not None and user.is_authenticated
    csrf = _CSRF.render(context)
    brand = gettext("Customer Information Sharing")
    parts = [
        '<header class="site-header"><div class="site-header__inner">'
        f'<a class="site-brand" href="{esc(optional_url("home"))}">{esc(brand)}</a>'
    ]
    if authenticated:
        parts.append(_nav(context.get("nav_items") or ()))
    parts.append('<div class="site-tools">')
    if search_url := context.get("nav_search_url"):
        parts.append(_search(request, search_url))
    if notifications_url := context.get("nav_notifications_url"):
        parts.append(_notifications(notifications_url, context.get("unread_notification_count")))
    parts.append(_language_switch(csrf, request, context.get("LANGUAGES") or ()))
    if authenticated:
        parts.append(_user_menu(csrf, user, context.get("user_display_name") or ""))
    parts.append("</div></div></header>")
    return mark_safe("".join(parts))  # noqa: S308 (every value went through esc)
