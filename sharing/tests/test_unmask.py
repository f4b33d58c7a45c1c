"""Unmasking: an explicit POST that needs level "visible" or a live unmask grant, and is logged."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import ContactPointFactory, CustomerFactory, PersonFactory
from sharing.models import Action, UnmaskGrant
from sharing.services import share_grant, unmask_grant_create

PHONE = "13955556666"
ID_NUMBER = "440301199003077777"


@pytest.fixture
def shared_customer(guangzhou_sales_rep, shenzhen_sales_rep, guangdong_sales_manager):
    """A Guangzhou customer shared with the Shenzhen rep for viewing: contact details masked for a rep."""
    customer = PersonFactory(owner=guangzhou_sales_rep, name="王共享", profile__id_number=ID_NUMBER)
    ContactPointFactory(customer=customer, value=PHONE)
    share_grant(customer=customer, action=Action.VIEW, user=shenzhen_sales_rep, granted_by=guangdong_sales_manager)
    return customer


def unmask_url(customer, group="contact"):
    return reverse("sharing:unmask", args=[customer.pk, group])


def grant(user, customer, group="contact", hours=2, by=None):
    return unmask_grant_create(
        user=user,
        customer=customer,
        field_group=group,
        granted_by=by or user,
        expires_at=timezone.now() + timedelta(hours=hours),
    )


def test_without_a_grant_the_rep_gets_a_404_message_and_no_value(client_for, shenzhen_sales_rep, shared_customer):
    response = client_for(shenzhen_sales_rep).post(unmask_url(shared_customer), HTTP_HX_REQUEST="true")
    assert response.status_code == 404
    html = response.content.decode()
    assert 'data-testid="unmask-refused"' in html
    assert PHONE not in html and "5555" not in html
    assert not LogEntry.objects.filter(additional_data__what="unmask").exists()


def test_with_a_live_grant_the_rep_sees_the_value_in_clear_and_the_read_is_logged(
    client_for, shenzhen_sales_rep, guangdong_sales_manager, shared_customer
):
    unmask = grant(shenzhen_sales_rep, shared_customer, by=guangdong_sales_manager)
    response = client_for(shenzhen_sales_rep).post(unmask_url(shared_customer), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert PHONE in response.content.decode()
    assert "sharing/partials/_revealed_contacts.html" in [t.name for t in response.templates]
    entry = LogEntry.objects.get(additional_data__what="unmask")
    assert entry.actor == shenzhen_sales_rep
    assert entry.object_pk == str(shared_customer.pk)
    assert entry.additional_data["field_group"] == "contact"
    unmask.refresh_from_db()
    assert unmask.last_used_at is not None


def test_an_expired_grant_no_longer_reveals(client_for, shenzhen_sales_rep, shared_customer):
    unmask = grant(shenzhen_sales_rep, shared_customer)
    UnmaskGrant.objects.filter(pk=unmask.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client_for(shenzhen_sales_rep).post(unmask_url(shared_customer))
    assert response.status_code == 404
    assert PHONE not in response.content.decode()


def test_a_grant_for_one_group_does_not_reveal_another(client_for, shenzhen_sales_rep, shared_customer):
    grant(shenzhen_sales_rep, shared_customer, group="contact")
    response = client_for(shenzhen_sales_rep).post(unmask_url(shared_customer, "identity"))
    assert response.status_code == 404
    assert ID_NUMBER not in response.content.decode()


def test_a_grant_for_a_customer_no_longer_visible_reveals_nothing(client_for, shenzhen_sales_rep, shared_customer):
    grant(shenzhen_sales_rep, shared_customer)
    shared_customer.user_shares.all().delete()
    response = client_for(shenzhen_sales_rep).post(unmask_url(shared_customer))
    assert response.status_code == 404
    assert 'data-testid="unmask-refused"' not in response.content.decode()  # same as a missing customer


def test_a_role_with_visible_contacts_needs_no_grant(client_for, guangdong_sales_manager, shared_customer):
    response = client_for(guangdong_sales_manager).post(unmask_url(shared_customer))
    assert response.status_code == 200
    assert PHONE in response.content.decode()


def test_identity_details_are_revealed_with_an_identity_grant(client_for, shenzhen_sales_rep, shared_customer):
    grant(shenzhen_sales_rep, shared_customer, group="identity")
    response = client_for(shenzhen_sales_rep).post(unmask_url(shared_customer, "identity"))
    assert response.status_code == 200
    assert ID_NUMBER in response.content.decode()


def test_a_hidden_group_cannot_be_unmasked_even_with_a_grant(client_for, dealer_user, guangdong_sales_manager, org):
    customer = PersonFactory(owner=dealer_user, profile__id_number=ID_NUMBER)
    # The dealer owns the customer, so the owner levels apply: identity in clear for the owner.
    assert client_for(dealer_user).post(unmask_url(customer, "identity")).status_code == 200
    other = PersonFactory(owner=None, org_unit=org["GD-SZ-D1"], profile__id_number=ID_NUMBER)
    share_grant(customer=other, action=Action.VIEW, user=dealer_user, granted_by=guangdong_sales_manager)
    grant(dealer_user, other, group="identity")
    response = client_for(dealer_user).post(unmask_url(other, "identity"))
    assert response.status_code == 404  # dealers do not see identity at all, grant or not
    assert ID_NUMBER not in response.content.decode()


@pytest.mark.parametrize("group", ["finance", "core", "nonsense"])
def test_only_maskable_groups_can_be_unmasked(client_for, guangdong_sales_manager, shared_customer, group):
    assert client_for(guangdong_sales_manager).post(unmask_url(shared_customer, group)).status_code == 404


def test_unmasking_is_a_post(client_for, guangdong_sales_manager, shared_customer):
    assert client_for(guangdong_sales_manager).get(unmask_url(shared_customer)).status_code == 405


@pytest.mark.parametrize("persona", ["outsider", "beijing_sales_manager", "guangzhou_sales_rep"])
def test_people_who_cannot_see_the_customer_get_404(request, client_for, persona, shenzhen_sales_rep):
    customer = CustomerFactory(owner=shenzhen_sales_rep)
    ContactPointFactory(customer=customer, value=PHONE)
    response = client_for(request.getfixturevalue(persona)).post(unmask_url(customer))
    assert response.status_code == 404
    assert PHONE not in response.content.decode()


def test_the_contact_region_offers_unmasking_only_with_a_live_grant(rf, shenzhen_sales_rep, shared_customer):
    from django.template.loader import render_to_string

    from sharing.presenters import CustomerPresenter

    html = render_to_string(
        "sharing/partials/_contacts_region.html", {"customer": CustomerPresenter(shared_customer, shenzhen_sales_rep)}
    )
    assert "139****6666" in html and PHONE not in html
    assert 'data-testid="request-unmask-contact"' in html
    assert 'data-testid="unmask-contact"' not in html
    grant(shenzhen_sales_rep, shared_customer)
    html = render_to_string(
        "sharing/partials/_contacts_region.html", {"customer": CustomerPresenter(shared_customer, shenzhen_sales_rep)}
    )
    assert 'data-testid="unmask-contact"' in html and PHONE not in html


@pytest.mark.django_db
def test_unmask_grants_for_gives_what_the_orm_query_gives():
    """The compiled statement (PostgreSQL) against the ORM's live() filter: live, expired and
    future-expiring grants, other users' grants, other customers, empty id lists."""
    import datetime

    from django.utils import timezone

    from customers.tests.factories import CustomerFactory
    from sharing.models import UnmaskGrant
    from sharing.presenters import unmask_grants_for
    from sharing.tests.factories import UserFactory

    viewer, other = UserFactory(), UserFactory()
    customers = [CustomerFactory() for _ in range(4)]
    now = timezone.now()
    UnmaskGrant.objects.create(user=viewer, customer=customers[0], field_group="contact")
    UnmaskGrant.objects.create(user=viewer, customer=customers[0], field_group="identity")
    UnmaskGrant.objects.create(user=viewer, customer=customers[1], field_group="contact", expires_at=now)
    UnmaskGrant.objects.create(
        user=viewer, customer=customers[2], field_group="finance", expires_at=now + datetime.timedelta(days=1)
    )
    UnmaskGrant.objects.create(user=other, customer=customers[3], field_group="contact")
    ids = [c.pk for c in customers]
    expected = {}
    for customer_id, group in (
        UnmaskGrant.objects.live(timezone.now())
        .filter(user_id=viewer.pk, customer_id__in=ids)
        .values_list("customer_id", "field_group")
    ):
        expected.setdefault(customer_id, set()).add(group)
    assert (
        unmask_grants_for(viewer, ids)
        == expected
        == {
            customers[0].pk: {"contact", "identity"},
            customers[2].pk: {"finance"},
        }
    )
    assert unmask_grants_for(viewer, ids[1:2]) == {}
    assert unmask_grants_for(viewer, []) == {}
    assert unmask_grants_for(other, ids) == {customers[3].pk: {"contact"}}
