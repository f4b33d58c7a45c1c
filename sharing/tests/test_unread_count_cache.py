"""The header's unread-notification badge is cached (sharing.selectors, ADR 0014): every way the
count changes must show on the next page."""

from django.contrib.auth import get_user_model

from sharing.models import Notification
from sharing.selectors import notification_unread_count
from sharing.services import notifications_mark_read, notify


def count_for(user):
    return notification_unread_count(user=get_user_model().objects.get(pk=user.pk))


def test_new_notification_shows_at_once(shenzhen_sales_rep):
    assert count_for(shenzhen_sales_rep) == 0
    notify(user=shenzhen_sales_rep, message="审批通过")
    assert count_for(shenzhen_sales_rep) == 1


def test_marking_read_clears_the_badge(shenzhen_sales_rep):
    notify(user=shenzhen_sales_rep, message="一")
    note = notify(user=shenzhen_sales_rep, message="二")
    assert count_for(shenzhen_sales_rep) == 2
    notifications_mark_read(user=shenzhen_sales_rep, ids=[note.pk])
    assert count_for(shenzhen_sales_rep) == 1
    notifications_mark_read(user=shenzhen_sales_rep)
    assert count_for(shenzhen_sales_rep) == 0


def test_deleting_a_notification_updates_the_badge(shenzhen_sales_rep):
    note = notify(user=shenzhen_sales_rep, message="一")
    assert count_for(shenzhen_sales_rep) == 1
    Notification.objects.get(pk=note.pk).delete()
    assert count_for(shenzhen_sales_rep) == 0


def test_counts_are_per_user(shenzhen_sales_rep, guangzhou_sales_rep):
    notify(user=shenzhen_sales_rep, message="一")
    assert count_for(guangzhou_sales_rep) == 0
    assert count_for(shenzhen_sales_rep) == 1


def test_badge_on_the_page_after_a_new_notification(client, shenzhen_sales_rep):
    client.force_login(shenzhen_sales_rep)
    client.get("/customers/")
    notify(user=shenzhen_sales_rep, message="新的共享")
    assert client.get("/customers/").context["unread_notification_count"]() == 1
