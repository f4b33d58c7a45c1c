"""The site shell: login, lockout, password change, language switch, navigation and shared partials."""

import re

import pytest
from django.core.paginator import Paginator
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from crm.navigation import NavItem, nav_items

PASSWORD = "a-long-shell-test-passphrase"  # noqa: S105
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.IGNORECASE)


@pytest.fixture
def clerk(django_user_model):
    return django_user_model.objects.create_user("clerk", password=PASSWORD)


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


def assert_csp_clean(html: str) -> None:
    assert not INLINE_SCRIPT.search(html), "inline <script> breaks the content security policy"
    assert not INLINE_STYLE.search(html), "inline style breaks the content security policy"


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_the_chinese_login_page(client):
    response = client.get("/", follow=True)
    assert response.redirect_chain == [("/accounts/login/?next=/", 302)]
    html = response.content.decode()
    assert "<title>登录 · 客户信息共享平台</title>" in html
    assert '<html lang="zh-hans">' in html
    assert 'name="csrf-token"' in html
    assert "/static/vendor/htmx.min.js" in html
    assert "site-nav" not in html
    assert_csp_clean(html)
    assert "script-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_a_user_logs_in_with_the_form_and_lands_on_the_workbench(client, clerk):
    response = client.post(reverse("login"), {"username": "clerk", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("home")
    html = response.content.decode()
    assert "<h1>工作台</h1>" in html
    assert 'data-testid="visible-count">0<' in html
    assert "您名下还没有客户" in html  # empty state
    assert_csp_clean(html)
    assert response["Cache-Control"] == "no-store, private"


@pytest.mark.django_db
def test_a_wrong_password_shows_an_inline_error_and_keeps_the_username(client, clerk):
    response = client.post(reverse("login"), {"username": "clerk", "password": "wrong"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="form-errors" role="alert"' in html
    assert 'value="clerk"' in html


@pytest.mark.django_db
def test_five_wrong_passwords_lock_the_account_even_for_the_right_password(client, clerk):
    url = reverse("login")
    statuses = [client.post(url, {"username": "clerk", "password": f"wrong-{i}"}).status_code for i in range(5)]
    assert statuses[:4] == [200, 200, 200, 200]
    assert statuses[4] == 429

    response = client.post(url, {"username": "clerk", "password": PASSWORD})
    assert response.status_code == 429
    assert "registration/locked_out.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert "账户已被临时锁定" in html
    assert "30" in html  # minutes until the cool-off ends
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_lockout_is_per_account_so_other_users_still_log_in(client, clerk, django_user_model):
    django_user_model.objects.create_user("colleague", password=PASSWORD)
    for i in range(5):
        client.post(reverse("login"), {"username": "clerk", "password": f"wrong-{i}"})
    response = client.post(reverse("login"), {"username": "colleague", "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.django_db
def test_logout_is_a_post_from_the_user_menu(clerk_client):
    html = clerk_client.get("/").content.decode()
    assert f'<form method="post" action="{reverse("logout")}">' in html
    assert clerk_client.get(reverse("logout")).status_code == 405
    response = clerk_client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert clerk_client.get("/").status_code == 302


@pytest.mark.django_db
def test_the_language_switch_changes_the_interface_to_english_and_back(clerk_client):
    response = clerk_client.post(reverse("set_language"), {"language": "en", "next": "/"}, follow=True)
    html = response.content.decode()
    assert "<h1>Workbench</h1>" in html
    assert '<html lang="en">' in html
    response = clerk_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"}, follow=True)
    assert "<h1>工作台</h1>" in response.content.decode()


@pytest.mark.django_db
def test_the_language_switch_refuses_to_redirect_off_site(clerk_client):
    response = clerk_client.post(reverse("set_language"), {"language": "en", "next": "https://evil.example/"})
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_a_user_changes_the_password_and_stays_logged_in(clerk_client, clerk):
    page = clerk_client.get(reverse("password_change"))
    assert "修改密码" in page.content.decode()
    assert_csp_clean(page.content.decode())
    response = clerk_client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "another-long-passphrase-9", "new_password2": "x"},
    )
    html = response.content.decode()
    assert 'aria-invalid="true"' in html
    assert 'id="id_new_password2_error"' in html

    response = clerk_client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "another-long-passphrase-9",
            "new_password2": "another-long-passphrase-9",
        },
        follow=True,
    )
    assert "密码已修改" in response.content.decode()
    clerk.refresh_from_db()
    assert clerk.check_password("another-long-passphrase-9")
    assert clerk_client.get("/").status_code == 200


@pytest.mark.parametrize(
    ("first", "last", "shown"),
    [("广东", "李", "李广东"), ("Ada", "Lovelace", "Ada Lovelace"), ("", "", "clerk")],
)
def test_the_header_names_chinese_users_family_name_first(first, last, shown):
    from django.contrib.auth.models import User

    from crm.context_processors import display_name

    assert display_name(User(username="clerk", first_name=first, last_name=last)) == shown


# --- Navigation -------------------------------------------------------------------------------


def _request(user, path="/"):
    request = RequestFactory().get(path)
    request.user = user
    return request


@pytest.mark.django_db
def test_navigation_omits_pages_whose_url_name_does_not_exist_yet(clerk):
    items = (
        NavItem("home", "Home", ("no-such-page", "home")),
        NavItem("missing", "Missing", ("nowhere:list",)),
        NavItem("login", "Login", ("login",)),
    )
    entries = nav_items(_request(clerk, "/accounts/login/"), items)
    assert [(e["key"], e["url"], e["active"]) for e in entries] == [
        ("home", "/", False),
        ("login", "/accounts/login/", True),
    ]


@pytest.mark.django_db
def test_navigation_shows_admin_only_to_staff(clerk, django_user_model):
    staff = django_user_model.objects.create_user("staffer", password=PASSWORD, is_staff=True)
    assert "admin" not in [e["key"] for e in nav_items(_request(clerk))]
    assert "admin" in [e["key"] for e in nav_items(_request(staff))]


def test_navigation_is_empty_for_anonymous_users():
    from django.contrib.auth.models import AnonymousUser

    assert nav_items(_request(AnonymousUser())) == []


@pytest.mark.django_db
def test_staff_see_the_admin_link_in_the_rendered_header(client, django_user_model):
    staff = django_user_model.objects.create_user("staffer", password=PASSWORD, is_staff=True)
    client.force_login(staff)
    html = client.get("/").content.decode()
    assert 'data-nav="admin"' in html
    assert ">管理后台<" in html


# --- Shared partials --------------------------------------------------------------------------


def test_pagination_keeps_the_other_query_parameters():
    request = RequestFactory().get("/customers/", {"q": "华信", "page": "2"})
    page_obj = Paginator(list(range(100)), 10).page(2)
    html = render_to_string("includes/pagination.html", {"page_obj": page_obj}, request=request)
    assert "第 11–20 条，共 100 条" in html
    assert '<a href="?q=%E5%8D%8E%E4%BF%A1&amp;page=3" rel="next">下一页</a>' in html
    assert '<a href="?q=%E5%8D%8E%E4%BF%A1&amp;page=10">末页</a>' in html
    assert "第 2 / 10 页" in html


def test_pagination_shows_numbered_links_when_the_view_passes_a_page_range():
    request = RequestFactory().get("/customers/", {"page": "7"})
    paginator = Paginator(list(range(200)), 10)
    page_obj = paginator.page(7)
    context = {"page_obj": page_obj, "page_range": paginator.get_elided_page_range(7), "hx_target": "#results"}
    html = render_to_string("includes/pagination.html", context, request=request)
    assert '<span aria-current="page">7</span>' in html
    assert 'hx-get="?page=8" hx-target="#results"' in html
    assert f">{paginator.ELLIPSIS}<" in html


def test_pagination_renders_nothing_for_a_single_page_without_count():
    request = RequestFactory().get("/")
    page_obj = Paginator([1, 2], 10).page(1)
    html = render_to_string("includes/pagination.html", {"page_obj": page_obj, "hide_count": True}, request=request)
    assert html.strip() == ""


def test_form_field_renders_label_help_and_inline_errors():
    from django import forms

    class DemoForm(forms.Form):
        phone = forms.CharField(label="电话", help_text="手机或座机")

    form = DemoForm(data={"phone": ""})
    assert not form.is_valid()
    html = render_to_string("includes/form_field.html", {"field": form["phone"]})
    assert 'class="field field--required field--error"' in html
    assert '<label for="id_phone">' in html
    assert 'id="id_phone_helptext"' in html
    assert 'id="id_phone_error"' in html
    assert 'aria-describedby="id_phone_helptext id_phone_error"' in html


def test_empty_state_renders_title_message_and_action():
    html = render_to_string(
        "includes/empty_state.html",
        {"title": "没有客户", "message": "先新建一个", "action_url": "/customers/new/", "action_label": "新建"},
    )
    assert "没有客户" in html and "先新建一个" in html
    assert 'href="/customers/new/"' in html


@pytest.mark.django_db
def test_messages_render_with_their_level_and_a_dismiss_button(clerk_client):
    from django.contrib import messages
    from django.contrib.messages.storage.fallback import FallbackStorage

    request = RequestFactory().get("/")
    request.session = clerk_client.session
    request._messages = FallbackStorage(request)
    messages.success(request, "已保存")
    messages.error(request, "出错了")
    html = render_to_string("includes/messages.html", {"messages": messages.get_messages(request)})
    assert 'class="message message--success"' in html
    assert 'class="message message--error" role="alert"' in html
    assert "data-dismiss" in html
    oob = render_to_string("includes/messages.html", {"messages": [], "oob": True})
    assert 'id="messages"' in oob and 'hx-swap-oob="true"' in oob


def test_healthz_answers_without_login(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
