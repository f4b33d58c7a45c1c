"""crm.auth.ModelBackend: the session's user read by a precompiled query, exactly as the ORM reads it."""

import datetime

import pytest
from django.contrib.auth import get_user, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from crm.auth import ModelBackend, user_by_pk
from sharing.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FIELDS = [f.attname for f in get_user_model()._meta.concrete_fields]


def test_the_user_read_is_the_one_the_orm_reads():
    user = UserFactory(
        first_name="广东",
        last_name="李",
        email="li@example.com",
        is_staff=True,
        last_login=datetime.datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=datetime.UTC),
    )
    fast, orm = user_by_pk(user.pk), get_user_model().objects.get(pk=user.pk)
    assert [getattr(fast, name) for name in FIELDS] == [getattr(orm, name) for name in FIELDS]
    assert fast._state.adding is False and fast._state.db == orm._state.db
    assert fast.check_password("pw")
    assert user_by_pk(str(user.pk)) == user  # as the session stores it


def test_unknown_or_malformed_ids_give_no_user():
    assert user_by_pk(987654321) is None
    assert user_by_pk("not-a-number") is None


def test_one_query_per_read():
    user = UserFactory()
    with CaptureQueriesContext(connection) as queries:
        user_by_pk(user.pk)
        user_by_pk(user.pk)
    assert len(queries) == 2
    assert all('FROM "auth_user"' in q["sql"] for q in queries.captured_queries)


def test_inactive_users_are_refused_as_by_djangos_backend():
    active, inactive = UserFactory(), UserFactory(is_active=False)
    assert ModelBackend().get_user(active.pk) == active
    assert ModelBackend().get_user(inactive.pk) is None


def test_a_signed_in_session_loads_its_user_and_a_changed_password_ends_it(client):
    user = UserFactory()
    client.force_login(user, backend="crm.auth.ModelBackend")
    request = RequestFactory().get("/")
    request.session = client.session
    assert get_user(request) == user
    user.set_password("another-passphrase-42")
    user.save()
    request = RequestFactory().get("/")
    request.session = client.session
    assert isinstance(get_user(request), AnonymousUser)


def test_a_session_of_a_backend_no_longer_configured_is_anonymous(client):
    user = UserFactory()
    client.force_login(user, backend="crm.auth.ModelBackend")
    session = client.session
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session.save()
    request = RequestFactory().get("/")
    request.session = session
    assert isinstance(get_user(request), AnonymousUser)
