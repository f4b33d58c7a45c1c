"""The authentication backend: Django's ModelBackend with the session's user read by one SQL
statement compiled once.

Every request of a signed-in user loads the user (`django.contrib.auth.get_user`). Through
`User.objects.get(pk=...)` the ORM builds and compiles the same query each time: 0.40 ms of CPU
against 0.15 ms for executing it (docs/performance.md, session 7). `get_user` here reads the row
through `crm.compiled.CompiledQuery` (compiled once per database, the user built as the ORM builds
it). Everything else, authentication and permissions, is Django's own.

Sessions store the backend's dotted path: sessions made under
`django.contrib.auth.backends.ModelBackend` end when this backend replaces it, and users sign in
again once.
"""

from __future__ import annotations

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.core.exceptions import ValidationError

from crm.compiled import CompiledQuery, Slot, slot_filter


@cache
def _user_query() -> CompiledQuery:
    user_model = get_user_model()
    table, pk = user_model._meta.db_table, user_model._meta.pk.column
    return CompiledQuery(
        user_model, lambda: user_model._default_manager.filter(slot_filter(f'"{table}"."{pk}" = %s', Slot("pk")))
    )


def user_by_pk(user_id):
    """The user with this primary key, or None; what `User._default_manager.get(pk=user_id)` reads."""
    try:
        user_id = get_user_model()._meta.pk.to_python(user_id)
    except ValidationError:
        return None
    users = _user_query().models(pk=user_id)
    return users[0] if users else None


class ModelBackend(DjangoModelBackend):
    def get_user(self, user_id):
        user = user_by_pk(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
