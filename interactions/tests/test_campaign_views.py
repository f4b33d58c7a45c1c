"""Campaign pages: who sees which campaign, rows and figures only for visible customers, htmx participation."""

from datetime import date
from decimal import Decimal

import pytest

from customers.tests.factories import ContactPointFactory, CustomerFactory
from interactions.campaign_models import Campaign, CampaignParticipation
from interactions.campaigns import campaign_create

pytestmark = pytest.mark.django_db


def consenting(owner, **kw):
    customer = CustomerFactory(owner=owner, **kw)
    ContactPointFactory(customer=customer, marketing_consent=True)
    return customer


@pytest.fixture
def gd_campaign(org, guangdong_sales_manager, shenzhen_sales_rep, guangzhou_sales_rep):
    consenting(shenzhen_sales_rep, name="深圳活动客户")
    consenting(guangzhou_sales_rep, name="广州活动客户")
    return campaign_create(
        created_by=guangdong_sales_manager,
        name="华南培训会",
        kind="training",
        starts_on=date(2026, 4, 1),
        ends_on=date(2026, 4, 2),
        owner_unit=org["GD"],
        budget=Decimal("5000"),
    )


def test_a_marketing_user_creates_a_campaign_from_filters(client_for, marketing_user, org, shenzhen_sales_rep):
    consenting(shenzhen_sales_rep, name="发布会客户甲")
    CustomerFactory(owner=shenzhen_sales_rep, name="发布会客户乙")  # no consent
    client = client_for(marketing_user)
    assert client.get("/interactions/campaigns/new/").status_code == 200
    data = {
        "name": "新品发布会",
        "kind": "event",
        "starts_on": "2026-05-01",
        "ends_on": "2026-05-02",
        "owner_unit": org["HQ"].pk,
        "budget": "10000",
        "f-q": "发布会客户",
    }
    preview = client.post("/interactions/campaigns/new/", {**data, "preview": "1"})
    assert "2" in preview.content.decode() and not Campaign.objects.exists()
    response = client.post("/interactions/campaigns/new/", data)
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response["Location"] == campaign.get_absolute_url()
    assert campaign.customer_filter == "q=%E5%8F%91%E5%B8%83%E4%BC%9A%E5%AE%A2%E6%88%B7"
    assert campaign.participations.count() == 1
    assert campaign.excluded["no_contact_point"] == 1


def test_an_empty_target_is_refused_on_the_form(client_for, marketing_user, org):
    response = client_for(marketing_user).post(
        "/interactions/campaigns/new/",
        {
            "name": "空",
            "kind": "mailing",
            "starts_on": "2026-05-01",
            "ends_on": "2026-05-02",
            "owner_unit": org["HQ"].pk,
            "budget": "0",
            "f-q": "没有这个客户",
        },
    )
    assert response.status_code == 400
    assert response.context["form"].non_field_errors()  # "the target list would be empty: …"
    assert not Campaign.objects.exists()


def test_reps_cannot_create_campaigns(client_for, shenzhen_sales_rep):
    assert client_for(shenzhen_sales_rep).get("/interactions/campaigns/new/").status_code == 403


def test_campaign_pages_show_only_visible_campaigns_and_customers(
    client, gd_campaign, guangdong_sales_manager, shenzhen_sales_rep, beijing_sales_manager
):
    url = gd_campaign.get_absolute_url()
    client.force_login(beijing_sales_manager)
    assert client.get(url).status_code == 404
    assert "华南培训会" not in client.get("/interactions/campaigns/").content.decode()

    client.force_login(guangdong_sales_manager)
    page = client.get(url).content.decode()
    assert "深圳活动客户" in page and "广州活动客户" in page

    # A rep's scope is their own records, not the province unit that owns the campaign.
    client.force_login(shenzhen_sales_rep)
    assert client.get(url).status_code == 404


def test_participation_is_recorded_with_htmx(client_for, gd_campaign, guangdong_sales_manager, beijing_sales_manager):
    row = gd_campaign.participations.first()
    url = f"/interactions/participations/{row.pk}/"
    assert client_for(beijing_sales_manager).post(url, {"status": "attended"}).status_code == 404
    response = client_for(guangdong_sales_manager).post(url, {"status": "attended"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b"<tr" in response.content
    assert CampaignParticipation.objects.get(pk=row.pk).status == "attended"


def test_participation_import_page_reports_rows(client_for, gd_campaign, guangdong_sales_manager):
    from django.core.files.uploadedfile import SimpleUploadedFile

    number = gd_campaign.participations.first().customer.number
    upload = SimpleUploadedFile("p.csv", f"customer number,status\n{number},registered\nC0000,registered\n".encode())
    response = client_for(guangdong_sales_manager).post(
        f"/interactions/campaigns/{gd_campaign.pk}/import/", {"file": upload}
    )
    body = response.content.decode()
    assert response.status_code == 200 and "C0000" in body


def test_participation_shows_on_the_customers_timeline(client_for, gd_campaign, guangdong_sales_manager):
    from interactions.campaigns import participation_set
    from interactions.selectors import customer_timeline

    targeted, attended = list(gd_campaign.participations.select_related("customer").order_by("pk"))
    participation_set(participation=attended, status="attended", by=guangdong_sales_manager)
    rep = attended.customer.owner
    entries = customer_timeline(customer=attended.customer, user=rep).object_list
    (entry,) = [e for e in entries if e.kind == "campaign"]
    assert entry.title == "华南培训会" and entry.status in ("Attended", "已出席")
    # A customer only targeted has no campaign entry yet.
    assert not [e for e in customer_timeline(customer=targeted.customer, user=rep).object_list if e.kind == "campaign"]
    page = client_for(rep).get(f"/interactions/customers/{attended.customer.pk}/timeline/")
    assert "华南培训会" in page.content.decode()


def test_an_opportunity_can_come_from_a_campaign_the_customer_took_part_in(
    client_for, gd_campaign, guangdong_sales_manager
):
    from interactions.campaigns import campaign_results, participation_set
    from interactions.models import Opportunity

    row = gd_campaign.participations.select_related("customer").first()
    customer = row.customer
    client = client_for(guangdong_sales_manager)
    url = f"/interactions/customers/{customer.pk}/opportunities/new/"
    data = {"name": "培训后采购", "amount": "80000", "currency": "CNY", "campaign": gd_campaign.pk}
    refused = client.post(url, data)  # only targeted so far: not taken part yet
    assert refused.status_code in (200, 400) and not Opportunity.objects.exists()
    participation_set(participation=row, status="converted", by=guangdong_sales_manager)
    assert client.post(url, data).status_code == 302
    assert Opportunity.objects.get().campaign == gd_campaign
    assert campaign_results(campaign=gd_campaign, viewer=guangdong_sales_manager).opportunities == 1


def test_a_campaign_page_hides_participants_the_viewer_cannot_see(
    client_for, org, marketing_user, guangdong_sales_manager, shenzhen_sales_rep, beijing_sales_rep
):
    consenting(shenzhen_sales_rep, name="可见的参与客户")
    hidden = consenting(beijing_sales_rep, name="北京隐藏参与客户")
    campaign = campaign_create(
        created_by=marketing_user,
        name="全国巡展（广东承办）",
        kind="event",
        starts_on=date(2026, 6, 1),
        ends_on=date(2026, 6, 30),
        owner_unit=org["GD"],
        customer_filter="q=",
    )
    assert campaign.participations.filter(customer=hidden).exists()  # marketing sees every customer
    page = client_for(guangdong_sales_manager).get(campaign.get_absolute_url())
    body = page.content.decode()
    assert page.status_code == 200 and "可见的参与客户" in body
    assert "北京隐藏参与客户" not in body and hidden.number not in body
    assert page.context["results"].targets == 1  # the count does not include the hidden customer
    assert 'data-testid="campaign-excluded"' not in body  # counted with marketing's wider visibility
    own = client_for(marketing_user).get(campaign.get_absolute_url()).content.decode()
    assert 'data-testid="campaign-excluded"' in own
    # Nor can the manager set the hidden customer's participation.
    row = campaign.participations.get(customer=hidden)
    assert (
        client_for(guangdong_sales_manager)
        .post(f"/interactions/participations/{row.pk}/", {"status": "attended"})
        .status_code
        == 404
    )
