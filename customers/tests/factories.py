"""Factories for customer-master records. Customers get unique numbers from the real sequence."""

import factory
from factory.django import DjangoModelFactory

from customers.models import CompanyProfile, ContactPoint, Customer, PersonProfile, Relationship
from dedup.normalize import normalize_email, normalize_name, normalize_phone


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer
        skip_postgeneration_save = True

    kind = Customer.Kind.COMPANY
    name = factory.Sequence(lambda n: f"测试客户{n}有限公司")
    name_normalized = factory.LazyAttribute(lambda o: normalize_name(o.name))
    number = factory.LazyFunction(lambda: __import__("customers.services").services.customer_numbers_reserve(1)[0])
    owner = None
    org_unit = factory.LazyAttribute(
        lambda o: o.owner.membership.unit if o.owner is not None and hasattr(o.owner, "membership") else None
    )

    @factory.post_generation
    def profile(obj, create, extracted, **kwargs):
        if not create:
            return
        if obj.kind == Customer.Kind.COMPANY:
            CompanyProfile.objects.get_or_create(customer=obj, defaults=kwargs)
        else:
            PersonProfile.objects.get_or_create(customer=obj, defaults=kwargs)


class PersonFactory(CustomerFactory):
    kind = Customer.Kind.PERSON
    name = factory.Sequence(lambda n: f"张测试{n}")


class ContactPointFactory(DjangoModelFactory):
    class Meta:
        model = ContactPoint

    customer = factory.SubFactory(CustomerFactory)
    kind = ContactPoint.Kind.MOBILE
    value = factory.Sequence(lambda n: f"1380013{n % 10000:04d}")
    normalized = factory.LazyAttribute(
        lambda o: (
            normalize_phone(o.value)
            if o.kind in ("mobile", "landline")
            else (normalize_email(o.value) if o.kind == "email" else o.value.casefold())
        )
    )
    is_primary = True


class RelationshipFactory(DjangoModelFactory):
    class Meta:
        model = Relationship

    from_customer = factory.SubFactory(CustomerFactory)
    to_customer = factory.SubFactory(PersonFactory)
    kind = Relationship.Kind.EMPLOYS


def valid_credit_code(body: str = "91440300MA5FX1234") -> str:
    """A unified social credit code with the right check character for its 17-character body."""
    from customers.validators import credit_code_check_char

    return body + credit_code_check_char(body)


def share_with(customer, user, *, action="view", granted_by=None, expires_at=None):
    """Share `customer` with `user` through the sharing service (as its owner, unless told otherwise)."""
    from sharing.principal import forget_principal
    from sharing.services import share_grant

    share = share_grant(
        customer=customer, action=action, user=user, granted_by=granted_by or customer.owner, expires_at=expires_at
    )
    forget_principal(user)
    return share


def expire(share):
    """Make a share expired a second ago (the beat task has not deleted it yet)."""
    from datetime import timedelta

    from django.utils import timezone

    type(share).objects.filter(pk=share.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def customer_form_data(*, kind="company", contacts=(), relationships=(), initial_contacts=0, **fields) -> dict:
    """POST data of the customer form: `contacts` and `relationships` are dicts of one row each."""
    data = {"kind": kind, "name": "深圳市腾飞科技有限公司" if kind == "company" else "王小明", "source": "key_account"}
    data.update({k: v for k, v in fields.items() if v is not None})
    for prefix, rows, initial in (("contacts", contacts, initial_contacts), ("relationships", relationships, 0)):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": str(len(rows)),
                f"{prefix}-INITIAL_FORMS": str(initial),
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "30",
            }
        )
        for index, row in enumerate(rows):
            for key, value in row.items():
                if value is True:
                    value = "on"
                if value not in (False, None):
                    data[f"{prefix}-{index}-{key}"] = str(value)
    return data
