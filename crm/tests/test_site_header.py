"""The site header tag (crm/templatetags/site_shell.py) writes what base.html's template wrote.

The header moved from template markup to Python for speed (about 1 ms of CPU per page). The former
template is kept here as the reference: both are rendered for the same request and compared, for
anonymous and signed-in users, staff and role flags, the active item, the search box on and off
the list, notifications, both languages and hostile names and queries.
"""

import importlib
import re

import pytest
from django.apps import apps
from django.template import engines
from django.test import RequestFactory
from django.utils import translation

from sharing.tests.factories import UserFactory

# base.html's header before it became {% site_header %} (templates/base.html, session 6).
FORMER_HEADER = """{% load i18n %}{% get_current_language as LANGUAGE_CODE %}
  <header class="site-header">
    <div class="site-header__inner">
      <a class="site-brand" href="{% url 'home' %}">{% translate "Customer Information Sharing" %}</a>
      {% if user.is_authenticated %}
        <nav class="site-nav" aria-label="{% translate 'Main navigation' %}">
          <ul class="site-nav__list">
            {% for item in nav_items %}
              <li><a class="site-nav__link" href="{{ item.url }}" data-nav="{{ item.key }}"{% if item.active %} aria-current="page"{% endif %}>{{ item.label }}</a></li>
            {% endfor %}
          </ul>
        </nav>
      {% endif %}
      <div class="site-tools">
        {% if nav_search_url %}
          <form class="site-search" role="search" method="get" action="{{ nav_search_url }}">
            <label class="visually-hidden" for="site-search">{% translate "Search customers" %}</label>
            <input type="search" id="site-search" name="q" data-shortcut-search
                   placeholder="{% translate 'Search customers' %} ( / )"
                   value="{% if request.path == nav_search_url %}{{ request.GET.q }}{% endif %}">
          </form>
        {% endif %}
        {% block notifications %}
          {% if nav_notifications_url %}
            {% with count=unread_notification_count %}
              <a class="notif-link" href="{{ nav_notifications_url }}">{% translate "Notifications" %}{% if count %} <span class="badge badge--count">{{ count }}<span class="visually-hidden"> {% translate "unread" %}</span></span>{% endif %}</a>
            {% endwith %}
          {% endif %}
        {% endblock %}
        <form class="lang-switch" method="post" action="{% url 'set_language' %}" aria-label="{% translate 'Language' %}">
          {% csrf_token %}
          <input type="hidden" name="next" value="{{ request.get_full_path }}">
          {% get_language_info_list for LANGUAGES as languages %}
          {% for language in languages %}
            <button type="submit" name="language" value="{{ language.code }}" lang="{{ language.code }}"
                    data-language="{{ language.code }}"
                    aria-pressed="{% if language.code == LANGUAGE_CODE %}true{% else %}false{% endif %}">{{ language.name_local }}</button>
          {% endfor %}
        </form>
        {% if user.is_authenticated %}
          <details class="user-menu" data-menu>
            <summary>{{ user_display_name }}</summary>
            <div class="user-menu__panel">
              <div class="user-menu__who">{% blocktranslate with name=user.get_username %}Signed in as {{ name }}{% endblocktranslate %}</div>
              <a href="{% url 'password_change' %}">{% translate "Change password" %}</a>
              <form method="post" action="{% url 'logout' %}">
                {% csrf_token %}
                <button type="submit" data-testid="logout">{% translate "Log out" %}</button>
              </form>
            </div>
          </details>
        {% endif %}
      </div>
    </div>
  </header>
"""

CSRF_VALUE = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+"')


def _normalised(html: str) -> str:
    html = CSRF_VALUE.sub(r'\1…"', html)  # a fresh mask per rendering
    html = re.sub(r"\s+", " ", html)
    return re.sub(r">\s+<", "><", html).strip()


def _both(user, path="/", extra=None):
    from django.contrib.sessions.backends.db import SessionStore

    request = RequestFactory().get(path)
    request.user = user
    request.session = SessionStore()
    engine = engines["django"]
    context = extra or {}
    former = engine.from_string(FORMER_HEADER).render(context, request)
    current = engine.from_string("{% load site_shell %}{% site_header %}").render(context, request)
    return _normalised(former), _normalised(current)


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize(
    "path",
    ["/", "/customers/", "/customers/?q=%3Cscript%3Ealert(1)%3C/script%3E%22%27", "/interactions/?q=abc", "/audit/"],
)
def test_the_header_tag_writes_what_the_template_wrote(language, path):
    user = UserFactory(username="ann<b>\"&'", first_name="<i>广东", last_name="李&")
    with translation.override(language):
        former, current = _both(user, path)
    assert 'class="site-nav"' in current and 'data-testid="logout"' in current
    assert current == former


@pytest.mark.django_db
@pytest.mark.parametrize("count", [0, 3, lambda: 12])
def test_the_header_tag_writes_the_notification_badge_as_the_template_did(count):
    former, current = _both(UserFactory(), "/customers/", {"unread_notification_count": count})
    assert current == former
    assert ("badge--count" in current) == bool(count)


@pytest.mark.django_db
def test_the_header_tag_shows_staff_and_role_flagged_items_as_the_template_did():
    from sharing.models import RolePolicy

    # The roles the data migrations create: a transactional test that ran before on this worker
    # (the browser tests, under xdist) may have flushed them.
    importlib.import_module("sharing.migrations.0002_default_roles").create_roles(apps, None)
    user = UserFactory(is_staff=True, roles=["sales_manager"])
    policy = RolePolicy.objects.get(code="sales_manager")
    policy.can_import = policy.can_view_audit = True
    policy.save()  # through the model, so cached principals are voided
    former, current = _both(user, "/admin/")
    assert 'data-nav="admin" aria-current="page"' in current
    assert 'data-nav="import"' in current and 'data-nav="audit"' in current
    assert current == former


@pytest.mark.django_db
def test_the_header_tag_for_anonymous_visitors_has_only_brand_and_language_switch():
    from django.contrib.auth.models import AnonymousUser

    former, current = _both(AnonymousUser(), "/accounts/login/?next=/%3Cx%3E")
    assert current == former
    assert "site-nav" not in current and "user-menu" not in current and "site-search" not in current
    assert 'name="next" value="/accounts/login/?next=/%3Cx%3E"' in current


@pytest.mark.django_db
def test_every_header_label_is_translated_in_chinese():
    """Labels written in Python must stay in the catalogue (makemessages misses f-string calls)."""
    with translation.override("zh-hans"):
        _former, current = _both(UserFactory(), "/customers/", {"unread_notification_count": 2})
    for label in (
        "客户信息共享平台",
        "主导航",
        "搜索客户",
        "通知",
        "条未读",
        "语言",
        "当前用户：",
        "修改密码",
        "退出登录",
    ):
        assert label in current, label
