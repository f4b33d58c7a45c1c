"""Fixtures of the dedup tests: customers with contact points and keys, a regional steward role."""

import random

import pytest

from customers.validators import CREDIT_CODE_CHARS, credit_code_check_char


def credit_code(seed: int) -> str:
    """A valid unified social credit code derived from `seed`."""
    body = "91440300" + "".join(CREDIT_CODE_CHARS[(seed * 7 + i * 13) % 31] for i in range(9))
    return body + credit_code_check_char(body)


def _phone_kind(value: str) -> str:
    from dedup.normalize import is_mobile_e164, normalize_phone

    return "mobile" if is_mobile_e164(normalize_phone(value)) else "landline"


@pytest.fixture
def make_customer(db):
    """make_customer(name=..., owner=..., phones=[...], emails=[...], credit_code=..., kind=...) → Customer
    with its profile, contact points and match keys (refreshed explicitly: the test transaction never
    commits, so the on-commit refresh would not run)."""
    from customers.tests.factories import ContactPointFactory, CustomerFactory
    from dedup.services import match_keys_refresh_many

    def make(*, name, owner=None, kind="company", phones=(), emails=(), addresses=(), org_unit=None, **profile):
        extra = {"org_unit": org_unit} if org_unit is not None else {}
        customer = CustomerFactory(
            name=name, kind=kind, owner=owner, **extra, **{f"profile__{k}": v for k, v in profile.items()}
        )
        for index, phone in enumerate(phones):
            ContactPointFactory(customer=customer, kind=_phone_kind(phone), value=phone, is_primary=index == 0)
        for index, email in enumerate(emails):
            ContactPointFactory(customer=customer, kind="email", value=email, is_primary=index == 0)
        for index, address in enumerate(addresses):
            ContactPointFactory(customer=customer, kind="address", value=address, is_primary=index == 0)
        match_keys_refresh_many([customer.pk])
        return customer

    return make


@pytest.fixture
def regional_steward(org):
    """A steward whose role sees and changes only Guangdong (subtree), with the merge flag."""
    from django.contrib.auth.models import Group

    from sharing.models import RolePolicy
    from sharing.tests.factories import MembershipFactory, UserFactory

    group = Group.objects.create(name="Guangdong data steward")
    RolePolicy.objects.create(
        group=group,
        code="gd_steward",
        view_scope="subtree",
        change_scope="subtree",
        field_levels={"core": 3, "contact": 1, "identity": 1},
        can_merge=True,
    )
    user = UserFactory(username="gd_steward")
    user.groups.add(group)
    MembershipFactory(user=user, unit=org["GD"])
    return user


@pytest.fixture
def rng():
    return random.Random(20261122)
