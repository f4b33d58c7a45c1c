"""Root fixtures: the personas, logged-in clients and factories (settings: crm/test_settings.py).

Personas are named by role and place (STYLE.md §8) and come from the same demo org as
`seed_demo` (crm/demo.py), so a test reads like a sentence about a real company.
"""

import pytest


@pytest.fixture
def org(db):
    """The demo org tree: {code: OrgUnit} (HQ, GD, GD-SZ, GD-GZ, GD-SZ-D1, BJ, BJ-CY, ZJ, ZJ-HZ …)."""
    from crm.demo import ensure_org

    return ensure_org()


def _persona(username, org):
    from crm.demo import ensure_persona

    return ensure_persona(username, org, password="pw")


@pytest.fixture
def hq_executive(org):
    return _persona("ceo", org)


@pytest.fixture
def guangdong_sales_manager(org):
    return _persona("gd_manager", org)


@pytest.fixture
def shenzhen_sales_rep(org):
    return _persona("sz_rep", org)


@pytest.fixture
def guangzhou_sales_rep(org):
    return _persona("gz_rep", org)


@pytest.fixture
def beijing_sales_manager(org):
    """A manager in a sibling province: must not see Guangdong's customers."""
    return _persona("bj_manager", org)


@pytest.fixture
def beijing_sales_rep(org):
    return _persona("bj_rep", org)


@pytest.fixture
def channel_manager(org):
    return _persona("channel1", org)


@pytest.fixture
def dealer_user(org):
    return _persona("dealer1", org)


@pytest.fixture
def service_agent(org):
    return _persona("service1", org)


@pytest.fixture
def finance_clerk(org):
    return _persona("finance1", org)


@pytest.fixture
def data_steward(org):
    return _persona("steward1", org)


@pytest.fixture
def auditor(org):
    return _persona("auditor1", org)


@pytest.fixture
def administrator(org):
    return _persona("admin", org)


@pytest.fixture
def marketing_user(org):
    """Runs campaigns: sees every customer's core data, changes none."""
    return _persona("marketing1", org)


@pytest.fixture
def outsider(db):
    """An active user with no role and no unit: sees nothing but their own records."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("outsider", password="pw")


@pytest.fixture
def client_for(client):
    """`client_for(user)` → a test client logged in as user."""

    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def customer_factory(db):
    from customers.tests.factories import CustomerFactory

    return CustomerFactory


@pytest.fixture(autouse=True)
def _fresh_principal_cache():
    """Cached principals of an earlier test (whose rows were rolled back, and whose user ids the
    next test may reuse on SQLite) must not serve this one: start each test with a new sharing
    generation (sharing/principal.py, ADR 0014)."""
    from sharing.principal import _bump_generation

    _bump_generation()
    yield
