"""Load the demo company: org tree, one persona per role, a few hundred customers, some duplicates.

Idempotent: a second run finds everything in place and creates nothing.
"""

import random

from django.core.management.base import BaseCommand
from django.db import transaction

from crm.demo import DEMO_PASSWORD, PERSONAS, ensure_personas
from customers.models import ContactPoint, Customer, CustomerRole, Relationship, Tag
from customers.services import ContactInput, CustomerInput, customer_create, relationship_create

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英文辉力华建国玲红梅鹏飞宇浩然子涵欣怡思远俊杰晓东海燕志强春梅"
)
CORES = [
    "华信",
    "恒达",
    "鑫源",
    "宏图",
    "盛世",
    "天成",
    "联创",
    "中科",
    "嘉禾",
    "瑞丰",
    "新锐",
    "东方",
    "金桥",
    "百川",
    "海纳",
    "博远",
    "卓越",
    "同心",
    "永安",
    "汇通",
    "润泽",
    "凯盛",
    "锦程",
    "易达",
    "星辰",
    "智联",
    "方圆",
    "诚信",
    "广利",
    "启航",
]
TRADES = ["科技", "电子", "贸易", "机械", "建材", "物流", "医药", "食品", "能源", "化工", "软件", "纺织"]
SUFFIXES = ["有限公司", "股份有限公司", "有限责任公司", "集团有限公司"]
PLACES = [
    ("广东省", "深圳市", ["南山区", "福田区", "宝安区", "龙岗区"], "GD-SZ", "518000"),
    ("广东省", "广州市", ["天河区", "越秀区", "海珠区", "番禺区"], "GD-GZ", "510000"),
    ("北京市", "北京市", ["朝阳区", "海淀区", "东城区", "丰台区"], "BJ-CY", "100000"),
    ("浙江省", "杭州市", ["西湖区", "滨江区", "余杭区", "拱墅区"], "ZJ-HZ", "310000"),
]
STREETS = ["科技园路", "深南大道", "中山路", "建国路", "人民路", "解放路", "文一西路", "天河北路", "长安街", "滨江大道"]
INDUSTRIES = ["制造业", "信息技术", "批发零售", "建筑业", "医疗健康", "物流运输", "金融服务", "能源化工"]
AREA_CODES = {"GD-SZ": "0755", "GD-GZ": "020", "BJ-CY": "010", "ZJ-HZ": "0571"}
MOBILE_PREFIXES = ["138", "139", "135", "136", "137", "150", "151", "152", "158", "159", "186", "187", "188", "189"]


class Command(BaseCommand):
    help = "Load demo org units, personas (password shown at the end) and customers. Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=300, help="number of customers (default 300)")

    def handle(self, *args, **options):
        users = ensure_personas()
        if Customer.objects.filter(tags__name="demo").exists():
            self.stdout.write("Demo customers already present; nothing to add.")
        else:
            with transaction.atomic():
                count = self._customers(users, options["customers"])
            self.stdout.write(f"Created {count} demo customers.")
        from customers.teams import demo_teams_and_pool

        demo_teams_and_pool(users)  # a team, a rule, a pool policy and a pooled customer (idempotent)
        from interactions.campaigns import demo_campaign_and_care_rules

        for line in demo_campaign_and_care_rules(users):  # a campaign and two care rules (idempotent)
            self.stdout.write(f"Added {line}.")
        self.stdout.write(f"Demo accounts (password: {DEMO_PASSWORD}):")
        for username, (full_name, role, unit, _mgr) in PERSONAS.items():
            self.stdout.write(f"  {username:<12} {role:<16} {unit:<10} {full_name}")

    def _customers(self, users, total):
        rng = random.Random(20261122)  # noqa: S311  (demo data)
        demo_tag, _ = Tag.objects.get_or_create(name="demo")
        roles = {r.code: r for r in CustomerRole.objects.all()}
        owners_by_region = {
            "GD-SZ": [users["sz_rep"], users["dealer1"]],
            "GD-GZ": [users["gz_rep"]],
            "BJ-CY": [users["bj_rep"], users["bj_manager"]],
            "ZJ-HZ": [users["gd_manager"]],
        }
        used_phones = set()

        def mobile():
            while True:
                number = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
                if number not in used_phones:
                    used_phones.add(number)
                    return number

        def address(place):
            province, city, districts, _code, postcode = place
            district = rng.choice(districts)
            street = (
                f"{province if province != city else ''}{city}{district}{rng.choice(STREETS)}{rng.randrange(1, 999)}号"
            )
            return ContactInput(
                kind=ContactPoint.Kind.ADDRESS,
                value=street,
                province=province.rstrip("省市"),
                city=city.rstrip("市"),
                district=district,
                postcode=postcode,
                is_primary=True,
            )

        companies, persons = [], []
        n_companies = total // 3
        for i in range(total):
            place = rng.choice(PLACES)
            owner = rng.choice(owners_by_region[place[3]])
            if i < n_companies:
                name = f"{place[1].rstrip('市')}{rng.choice(CORES)}{rng.choice(TRADES)}{rng.choice(SUFFIXES)}"
                data = CustomerInput(
                    kind=Customer.Kind.COMPANY,
                    name=name,
                    source=Customer.Source.KEY_ACCOUNT,
                    roles=[roles["customer"]] + ([roles["debtor"]] if rng.random() < 0.3 else []),
                    tags=[demo_tag],
                    profile={"industry": rng.choice(INDUSTRIES), "size": rng.choice(["small", "medium", "large"])},
                    contacts=[
                        ContactInput(
                            kind=ContactPoint.Kind.LANDLINE,
                            value=f"{AREA_CODES[place[3]]}-{rng.randrange(5, 9)}{rng.randrange(10**7):07d}",
                            is_primary=True,
                        ),
                        ContactInput(kind=ContactPoint.Kind.EMAIL, value=f"info{i}@example.com"),
                        address(place),
                    ],
                )
            else:
                name = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.5 else "")
                data = CustomerInput(
                    kind=Customer.Kind.PERSON,
                    name=name,
                    source=rng.choice([Customer.Source.CHANNEL, Customer.Source.SERVICE]),
                    roles=[roles["customer"]],
                    tags=[demo_tag],
                    profile={
                        "gender": rng.choice(["f", "m"]),
                        "title": rng.choice(["经理", "总监", "采购", "工程师", ""]),
                    },
                    contacts=[
                        ContactInput(
                            kind=ContactPoint.Kind.MOBILE,
                            value=mobile(),
                            is_primary=True,
                            marketing_consent=rng.random() < 0.6,
                        ),
                        address(place),
                    ],
                )
            customer = customer_create(data=data, created_by=owner, owner=owner)
            (companies if i < n_companies else persons).append(customer)
        # Relationships: people work for companies; a few holdings and spouses.
        for person in persons[: len(companies)]:
            relationship_create(
                from_customer=rng.choice(companies), to_customer=person, kind=Relationship.Kind.EMPLOYS, title="联系人"
            )
        for a, b in zip(companies[:10], companies[10:20], strict=False):
            relationship_create(
                from_customer=a, to_customer=b, kind=Relationship.Kind.HOLDS, share_percent=rng.choice([10, 25, 51])
            )
        # Deliberate duplicates: same company with another suffix and phone format; same person, phone reformatted.
        for original in companies[:6]:
            phone = original.contact_points.filter(kind=ContactPoint.Kind.LANDLINE).first()
            core = (
                original.name.replace("股份有限公司", "")
                .replace("集团有限公司", "")
                .replace("有限责任公司", "")
                .replace("有限公司", "")
            )
            dup = CustomerInput(
                kind=Customer.Kind.COMPANY,
                name=f"{core}公司",
                source=Customer.Source.CHANNEL,
                tags=[demo_tag],
                contacts=[
                    ContactInput(
                        kind=ContactPoint.Kind.LANDLINE,
                        value="+86 " + phone.value.lstrip("0").replace("-", " "),
                        is_primary=True,
                    )
                ],
            )
            customer_create(data=dup, created_by=users["dealer1"], owner=users["dealer1"])
        for original in persons[:4]:
            phone = original.contact_points.filter(kind=ContactPoint.Kind.MOBILE).first().value
            dup = CustomerInput(
                kind=Customer.Kind.PERSON,
                name=original.name,
                source=Customer.Source.SERVICE,
                tags=[demo_tag],
                contacts=[
                    ContactInput(
                        kind=ContactPoint.Kind.MOBILE,
                        value=f"+86-{phone[:3]}-{phone[3:7]}-{phone[7:]}",
                        is_primary=True,
                    )
                ],
            )
            customer_create(data=dup, created_by=users["gz_rep"], owner=users["gz_rep"])
        return total + 10
