"""The customer admin: read-mostly, limited to visible customers, owner/unit edits are logged transfers."""

import pytest
from auditlog.models import LogEntry

from customers.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_administrators_change_owner_and_unit_as_a_logged_transfer(
    client_for, administrator, shenzhen_sales_rep, guangzhou_sales_rep, org
):
    customer = CustomerFactory(owner=shenzhen_sales_rep, name="原名称")
    client = client_for(administrator)
    page = client.get(f"/admin/customers/customer/{customer.pk}/change/")
    assert page.status_code == 200
    response = client.post(
        f"/admin/customers/customer/{customer.pk}/change/",
        {"owner": guangzhou_sales_rep.pk, "org_unit": org["GD-GZ"].pk, "name": "篡改", "status": "erased"},
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.owner, customer.org_unit) == (guangzhou_sales_rep, org["GD-GZ"])
    assert (customer.name, customer.status) == ("原名称", "active")  # read-only fields
    assert LogEntry.objects.filter(object_id=customer.pk, additional_data__what="customer_transferred").exists()


def test_staff_without_the_administrator_role_may_not_change_customers(
    client_for, shenzhen_sales_rep, guangdong_sales_manager, guangzhou_sales_rep
):
    from django.contrib.auth.models import Permission

    customer = CustomerFactory(owner=shenzhen_sales_rep)
    guangdong_sales_manager.is_staff = True
    guangdong_sales_manager.save()
    guangdong_sales_manager.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="customers", codename__in=["view_customer", "change_customer"]
        )
    )
    client = client_for(guangdong_sales_manager)
    assert client.get(f"/admin/customers/customer/{customer.pk}/change/").status_code == 200  # read-only view
    client.post(f"/admin/customers/customer/{customer.pk}/change/", {"owner": guangzhou_sales_rep.pk})
    customer.refresh_from_db()
    assert customer.owner == shenzhen_sales_rep


def test_the_admin_list_shows_only_customers_the_staff_user_can_see(
    client_for, guangdong_sales_manager, shenzhen_sales_rep, beijing_sales_rep
):
    from django.contrib.auth.models import Permission

    visible = CustomerFactory(owner=shenzhen_sales_rep)
    hidden = CustomerFactory(owner=beijing_sales_rep)
    guangdong_sales_manager.is_staff = True
    guangdong_sales_manager.save()
    guangdong_sales_manager.user_permissions.add(
        Permission.objects.get(content_type__app_label="customers", codename="view_customer")
    )
    client = client_for(guangdong_sales_manager)
    body = client.get("/admin/customers/customer/").content.decode()
    assert visible.number in body
    assert hidden.number not in body
    assert client.get(f"/admin/customers/customer/{hidden.pk}/change/").status_code in (302, 404)
