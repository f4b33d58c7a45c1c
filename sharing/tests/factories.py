"""Factories for org units, users and shares."""

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from sharing.models import Membership, OrgUnit


class OrgUnitFactory(DjangoModelFactory):
    class Meta:
        model = OrgUnit

    name = factory.Sequence(lambda n: f"单位{n}")
    code = factory.Sequence(lambda n: f"U{n}")
    kind = OrgUnit.Kind.REGION
    parent = None


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw")

    @factory.post_generation
    def roles(obj, create, extracted, **kwargs):
        """`UserFactory(roles=["sales_rep"])` adds the role groups."""
        if create and extracted:
            from sharing.models import RolePolicy

            obj.groups.add(*[p.group for p in RolePolicy.objects.filter(code__in=extracted)])


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    unit = factory.SubFactory(OrgUnitFactory)
    is_manager = False
