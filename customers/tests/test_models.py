"""Rules of single records: the credit code checksum and relationship sanity."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation

from customers.models import CompanyProfile, Relationship
from customers.services import relationship_create
from customers.tests.factories import CustomerFactory, PersonFactory, valid_credit_code
from customers.validators import is_valid_credit_code, validate_credit_code

pytestmark = pytest.mark.django_db


def test_a_credit_code_with_the_right_check_character_is_valid():
    assert is_valid_credit_code(valid_credit_code())
    assert is_valid_credit_code("91350100M000100Y43")  # a published example code
    validate_credit_code(valid_credit_code("12100000400010398"))


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y44",  # wrong check character
        "91350100M000100Y4",  # too short
        "91350100M000100Y433",  # too long
        "91350100M000100I43",  # I is not in the GB 32100 alphabet
        "9135010OM000100Y43",  # nor is O
    ],
)
def test_a_credit_code_with_a_wrong_check_character_or_alphabet_is_refused(code):
    assert not is_valid_credit_code(code)
    with pytest.raises(ValidationError):
        validate_credit_code(code)


def test_a_company_profile_with_a_bad_credit_code_does_not_validate():
    company = CustomerFactory()
    profile = CompanyProfile.objects.get(customer=company)
    profile.credit_code = "91350100M000100Y44"
    with pytest.raises(ValidationError) as excinfo:
        profile.full_clean()
    assert "credit_code" in excinfo.value.error_dict


def test_a_customer_cannot_be_related_to_itself():
    company = CustomerFactory()
    with pytest.raises(ValidationError):
        relationship_create(from_customer=company, to_customer=company, kind=Relationship.Kind.RELATED)
    # …and the database refuses it too, whatever path writes it.
    with pytest.raises(IntegrityError), transaction.atomic():
        Relationship.objects.create(from_customer=company, to_customer=company, kind=Relationship.Kind.RELATED)


def test_the_same_relationship_cannot_be_entered_twice():
    company, person = CustomerFactory(), PersonFactory()
    relationship_create(from_customer=company, to_customer=person, kind=Relationship.Kind.EMPLOYS)
    with pytest.raises(ValidationError):
        relationship_create(from_customer=company, to_customer=person, kind=Relationship.Kind.EMPLOYS)
    assert Relationship.objects.count() == 1


@pytest.mark.parametrize("kind", [Relationship.Kind.SPOUSE_OF, Relationship.Kind.RELATED])
def test_a_symmetric_relationship_entered_from_the_other_side_is_a_duplicate(kind):
    wife, husband = PersonFactory(), PersonFactory()
    relationship_create(from_customer=wife, to_customer=husband, kind=kind)
    with pytest.raises(ValidationError):
        relationship_create(from_customer=husband, to_customer=wife, kind=kind)
    assert Relationship.objects.count() == 1


def test_a_directional_relationship_reads_differently_from_each_side():
    company, person = CustomerFactory(), PersonFactory()
    employs = relationship_create(from_customer=company, to_customer=person, kind=Relationship.Kind.EMPLOYS)
    with translation.override("en"):
        assert str(employs.label_for(company.pk)) == "employs"
        assert str(employs.label_for(person.pk)) == "works for"
    with translation.override("zh-hans"):
        assert str(employs.label_for(company.pk)) == "雇用"


def test_a_share_above_one_hundred_percent_is_refused():
    holder, held = CustomerFactory(), CustomerFactory()
    with pytest.raises(ValidationError):
        relationship_create(from_customer=holder, to_customer=held, kind=Relationship.Kind.HOLDS, share_percent=150)
