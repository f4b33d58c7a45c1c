"""The demo company: org tree and one persona per role. Used by `seed_demo` and by the tests' personas.

Everything here is idempotent (get_or_create), so running it twice doubles nothing.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from sharing.models import Membership, OrgUnit, RolePolicy

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105  (documented demo password, demo data only)

# code: (name, kind, parent code)
ORG = {
    "HQ": ("总部", OrgUnit.Kind.HQ, None),
    "HQ-SVC": ("客户服务部", OrgUnit.Kind.DEPARTMENT, "HQ"),
    "HQ-FIN": ("财务部", OrgUnit.Kind.DEPARTMENT, "HQ"),
    "GD": ("广东省公司", OrgUnit.Kind.PROVINCE, "HQ"),
    "GD-SZ": ("深圳办事处", OrgUnit.Kind.REGION, "GD"),
    "GD-GZ": ("广州办事处", OrgUnit.Kind.REGION, "GD"),
    "GD-SZ-D1": ("深圳华南经销商", OrgUnit.Kind.DEALER, "GD-SZ"),
    "BJ": ("北京市公司", OrgUnit.Kind.PROVINCE, "HQ"),
    "BJ-CY": ("朝阳办事处", OrgUnit.Kind.REGION, "BJ"),
    "ZJ": ("浙江省公司", OrgUnit.Kind.PROVINCE, "HQ"),
    "ZJ-HZ": ("杭州办事处", OrgUnit.Kind.REGION, "ZJ"),
}

# username: (full name, role code, unit code, is_manager)
PERSONAS = {
    "admin": ("系统管理员", "administrator", "HQ", False),
    "ceo": ("王总", "executive", "HQ", True),
    "gd_manager": ("李广东", "sales_manager", "GD", True),
    "sz_rep": ("陈深圳", "sales_rep", "GD-SZ", False),
    "gz_rep": ("黄广州", "sales_rep", "GD-GZ", False),
    "bj_manager": ("赵北京", "sales_manager", "BJ", True),
    "bj_rep": ("孙朝阳", "sales_rep", "BJ-CY", False),
    "channel1": ("周渠道", "channel_manager", "GD", False),
    "dealer1": ("吴经销", "dealer", "GD-SZ-D1", False),
    "service1": ("郑客服", "service_agent", "HQ-SVC", False),
    "finance1": ("钱财务", "finance_clerk", "HQ-FIN", False),
    "steward1": ("冯数据", "data_steward", "HQ", False),
    "auditor1": ("卫审计", "auditor", "HQ", False),
    "marketing1": ("蒋市场", "marketing", "HQ", False),
}


def ensure_reference_data() -> None:
    """Re-create the rows the data migrations load (default roles, customer roles, number sequence).

    A transactional test flushes every table at teardown, data-migration rows included; later tests
    on the same database would then find no roles. Idempotent: existing rows are left as they are.
    """
    from django.contrib.auth.models import Group

    from customers.models import CustomerRole, NumberSequence
    from sharing.roles import DEFAULT_ROLES

    if RolePolicy.objects.filter(code__in=DEFAULT_ROLES).count() < len(DEFAULT_ROLES):
        for code, spec in DEFAULT_ROLES.items():
            if RolePolicy.objects.filter(code=code).exists():
                continue
            group, _ = Group.objects.get_or_create(name=spec["name"])
            RolePolicy.objects.create(
                code=code,
                group=group,
                view_scope=spec["view_scope"],
                change_scope=spec["change_scope"],
                field_levels=spec["field_levels"],
                interaction_kinds=spec["interaction_kinds"],
                **dict.fromkeys(spec["flags"], True),
            )
    for code, name in [
        ("customer", "Customer"),
        ("debtor", "Debtor"),
        ("supplier", "Supplier"),
        ("partner", "Partner"),
        ("prospect", "Prospect"),
    ]:
        CustomerRole.objects.get_or_create(code=code, defaults={"name": name})
    NumberSequence.objects.get_or_create(name="customer")


def ensure_org() -> dict[str, OrgUnit]:
    ensure_reference_data()
    units: dict[str, OrgUnit] = {}
    for code, (name, kind, parent_code) in ORG.items():
        unit, _ = OrgUnit.objects.get_or_create(
            code=code, defaults={"name": name, "kind": kind, "parent": units.get(parent_code)}
        )
        units[code] = unit
    return units


def ensure_persona(username: str, units: dict[str, OrgUnit], password: str = DEMO_PASSWORD):
    User = get_user_model()
    full_name, role_code, unit_code, is_manager = PERSONAS[username]
    user, created = User.objects.get_or_create(
        username=username,
        defaults={
            "first_name": full_name[1:],
            "last_name": full_name[:1],
            "email": f"{username}@example.com",
            "is_staff": role_code == "administrator",
            "is_superuser": role_code == "administrator",
        },
    )
    if created:
        user.set_password(password)
        user.save()
    group = RolePolicy.objects.get(code=role_code).group
    user.groups.add(group)
    Membership.objects.update_or_create(user=user, defaults={"unit": units[unit_code], "is_manager": is_manager})
    return user


def ensure_personas(password: str = DEMO_PASSWORD) -> dict:
    units = ensure_org()
    return {username: ensure_persona(username, units, password) for username in PERSONAS}


def role_group(code: str) -> Group:
    return RolePolicy.objects.get(code=code).group
