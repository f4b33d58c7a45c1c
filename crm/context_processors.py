"""Template context shared by every page: languages, navigation, search target, notification count."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from crm.navigation import nav_items, optional_url

# The sharing app owns notifications. When it provides this selector, the header shows the count;
# until then the slot stays empty. Only called when a template actually renders the count.
NOTIFICATION_COUNT_SELECTOR = "sharing.selectors.notification_unread_count"


def _notification_counter(user):
    @cache
    def count():
        if not user.is_authenticated:
            return 0
        try:
            selector = import_string(NOTIFICATION_COUNT_SELECTOR)
        except ImportError:
            return 0
        return selector(user=user)

    return count


def display_name(user) -> str:
    """How the header names the user: Chinese names family name first and without a space
    (李广东), other names as Django's get_full_name() (Ada Lovelace); the username otherwise."""
    first, last = user.first_name.strip(), user.last_name.strip()
    if first and last and not (first + last).isascii():
        return last + first
    return user.get_full_name() or user.get_username()


def navigation(request):
    user = getattr(request, "user", None)
    authenticated = user is not None and user.is_authenticated
    return {
        "LANGUAGES": settings.LANGUAGES,
        "DEBUG": settings.DEBUG,
        "nav_items": nav_items(request),
        "nav_search_url": optional_url("customers:list") if authenticated else None,
        "nav_notifications_url": optional_url("sharing:notifications") if authenticated else None,
        "unread_notification_count": _notification_counter(user) if authenticated else 0,
        "user_display_name": display_name(user) if authenticated else "",
    }
