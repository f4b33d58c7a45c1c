"""The scale harness's bulk loader: a large company's worth of customers, staff and shares.

`python manage.py seed_scale` (see crm/management/commands/seed_scale.py) calls `seed()`. Everything
is generated set-based inside PostgreSQL (`INSERT … SELECT … FROM generate_series`), driven by a
deterministic hash of the row number (`hashint8extended`), so a run is reproducible, needs no
Python loop per row and loads 1M customers in a few minutes on two cores:

* org tree: the demo units (crm/demo.py) plus 27 provinces, ~320 regions, dealers, HQ departments;
* users with one Membership and one role group each (the demo personas included, so their
  passwords and names work against the big database too), plus 200 project groups;
* customers (companies and persons) with profiles, contact points (E.164 phones in
  `normalized`, emails, addresses with province/city), customer roles, tags and relationships;
  about 5% are realistic duplicates of another customer (other legal suffix or a "(City)" form,
  the same phone written differently);
* explicit shares with users and groups (view/change, some expired, some expiring), including one
  group holding a 20,000-customer share and a user in it;
* interactions (activities, documents, service cases) and dedup match keys when those apps have
  models; each part is skipped with a message otherwise.

Secondary indexes and foreign keys of the bulk-loaded tables are dropped before and recreated
after the load, all inside one transaction: a failure leaves the database as it was. The
customer numbers come from the same `NumberSequence("customer")` the services use.
"""

# SQL here is assembled from this module's constants and integers, never from user input:
# ruff: noqa: S608

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission
from django.db import connection, models, transaction
from django.utils import timezone

SCALE_USER_PREFIX = "scale_"
SCALE_GROUP_PREFIX = "scale "
SCALE_UNIT_PREFIX = "S-"
BIG_SHARE_GROUP = "scale 大客户联合组"
BIG_SHARE_USER = "scale_share20k"
TIMELINE_TAG = "scale-360"


@dataclass(frozen=True)
class Sizes:
    customers: int = 1_000_000
    users: int = 2_000
    groups: int = 200
    shares: int = 100_000
    big_share: int = 20_000
    activities: int = 5_000_000
    cases: int = 200_000
    regions: int = 320
    dealers: int = 100
    timeline: int = 1_000
    duplicate_ratio: float = 0.05


SMALL = Sizes(
    customers=2_000,
    users=200,
    groups=10,
    shares=1_000,
    big_share=200,
    activities=5_000,
    cases=500,
    regions=54,
    dealers=10,
    timeline=1_000,
)


def sizes_for(small: bool = False, **overrides) -> Sizes:
    """The default (or --small) sizes with the given overrides; secondary sizes follow the main ones."""
    base = SMALL if small else Sizes()
    given = {k: v for k, v in overrides.items() if v is not None}
    sizes = replace(base, **given)
    # Keep dependent sizes consistent with what was asked for.
    big = min(sizes.big_share, sizes.shares // 5 if "big_share" not in given else sizes.big_share, sizes.customers)
    shares = min(sizes.shares, sizes.customers)
    timeline = min(sizes.timeline, max(sizes.activities // 2, 0))
    return replace(sizes, big_share=big, shares=shares, timeline=timeline)


# --- Reference data ------------------------------------------------------------------------------

# code, short name, official name, 2-digit admin code, [(city, area code, postcode)]
PROVINCES = [
    ("BJ", "北京", "北京市", "11", [("北京", "010", "100000")]),
    ("TJ", "天津", "天津市", "12", [("天津", "022", "300000")]),
    ("SH", "上海", "上海市", "31", [("上海", "021", "200000")]),
    ("CQ", "重庆", "重庆市", "50", [("重庆", "023", "400000")]),
    (
        "HE",
        "河北",
        "河北省",
        "13",
        [("石家庄", "0311", "050000"), ("唐山", "0315", "063000"), ("保定", "0312", "071000")],
    ),
    ("SX", "山西", "山西省", "14", [("太原", "0351", "030000"), ("大同", "0352", "037000")]),
    ("LN", "辽宁", "辽宁省", "21", [("沈阳", "024", "110000"), ("大连", "0411", "116000"), ("鞍山", "0412", "114000")]),
    ("JL", "吉林", "吉林省", "22", [("长春", "0431", "130000"), ("吉林", "0432", "132000")]),
    ("HL", "黑龙江", "黑龙江省", "23", [("哈尔滨", "0451", "150000"), ("大庆", "0459", "163000")]),
    (
        "JS",
        "江苏",
        "江苏省",
        "32",
        [("南京", "025", "210000"), ("苏州", "0512", "215000"), ("无锡", "0510", "214000"), ("南通", "0513", "226000")],
    ),
    (
        "ZJ",
        "浙江",
        "浙江省",
        "33",
        [
            ("杭州", "0571", "310000"),
            ("宁波", "0574", "315000"),
            ("温州", "0577", "325000"),
            ("嘉兴", "0573", "314000"),
        ],
    ),
    ("AH", "安徽", "安徽省", "34", [("合肥", "0551", "230000"), ("芜湖", "0553", "241000")]),
    (
        "FJ",
        "福建",
        "福建省",
        "35",
        [("福州", "0591", "350000"), ("厦门", "0592", "361000"), ("泉州", "0595", "362000")],
    ),
    ("JX", "江西", "江西省", "36", [("南昌", "0791", "330000"), ("赣州", "0797", "341000")]),
    (
        "SD",
        "山东",
        "山东省",
        "37",
        [
            ("济南", "0531", "250000"),
            ("青岛", "0532", "266000"),
            ("烟台", "0535", "264000"),
            ("潍坊", "0536", "261000"),
        ],
    ),
    (
        "HA",
        "河南",
        "河南省",
        "41",
        [("郑州", "0371", "450000"), ("洛阳", "0379", "471000"), ("新乡", "0373", "453000")],
    ),
    ("HB", "湖北", "湖北省", "42", [("武汉", "027", "430000"), ("宜昌", "0717", "443000"), ("襄阳", "0710", "441000")]),
    (
        "HN",
        "湖南",
        "湖南省",
        "43",
        [("长沙", "0731", "410000"), ("衡阳", "0734", "421000"), ("岳阳", "0730", "414000")],
    ),
    (
        "GD",
        "广东",
        "广东省",
        "44",
        [
            ("深圳", "0755", "518000"),
            ("广州", "020", "510000"),
            ("东莞", "0769", "523000"),
            ("佛山", "0757", "528000"),
            ("珠海", "0756", "519000"),
        ],
    ),
    ("GX", "广西", "广西壮族自治区", "45", [("南宁", "0771", "530000"), ("柳州", "0772", "545000")]),
    ("HI", "海南", "海南省", "46", [("海口", "0898", "570000"), ("三亚", "0898", "572000")]),
    ("SC", "四川", "四川省", "51", [("成都", "028", "610000"), ("绵阳", "0816", "621000"), ("宜宾", "0831", "644000")]),
    ("GZ", "贵州", "贵州省", "52", [("贵阳", "0851", "550000"), ("遵义", "0851", "563000")]),
    ("YN", "云南", "云南省", "53", [("昆明", "0871", "650000"), ("大理", "0872", "671000")]),
    ("SN", "陕西", "陕西省", "61", [("西安", "029", "710000"), ("宝鸡", "0917", "721000")]),
    ("GS", "甘肃", "甘肃省", "62", [("兰州", "0931", "730000"), ("天水", "0938", "741000")]),
    ("NM", "内蒙古", "内蒙古自治区", "15", [("呼和浩特", "0471", "010000"), ("包头", "0472", "014000")]),
]
# Relative size of each province's organisation (regions, staff, customers follow it).
PROVINCE_WEIGHT = {"GD": 3, "JS": 2.5, "ZJ": 2.5, "SD": 2, "BJ": 2, "SH": 2, "HA": 1.5, "SC": 1.5, "HB": 1.3}
# The demo's units (crm/demo.py) that stand for regions of the big org.
DEMO_REGIONS = {"GD-SZ": ("GD", "深圳"), "GD-GZ": ("GD", "广州"), "BJ-CY": ("BJ", "北京"), "ZJ-HZ": ("ZJ", "杭州")}
DEMO_DEALERS = {"GD-SZ-D1": "GD-SZ"}
MUNICIPAL_DISTRICTS = {
    "北京": ["朝阳", "海淀", "东城", "西城", "丰台", "通州", "昌平", "大兴"],
    "上海": ["浦东", "徐汇", "静安", "闵行", "长宁", "杨浦", "宝山", "嘉定"],
    "天津": ["和平", "河西", "南开", "滨海", "西青", "东丽"],
    "重庆": ["渝中", "江北", "南岸", "九龙坡", "沙坪坝", "渝北"],
}
OFFICE_PARTS = ["", "东区", "西区", "南区", "北区", "高新区", "开发区", "新区", "城区", "二部", "三部", "四部"]
DISTRICTS = ["中心区", "高新区", "经开区", "新城区", "城东区", "城西区", "城南区", "城北区", "临港区", "老城区"]
STREETS = [
    "人民路",
    "中山路",
    "解放路",
    "建设路",
    "和平路",
    "科技园路",
    "工业大道",
    "长江路",
    "黄河路",
    "滨江大道",
    "新华路",
    "文化路",
    "青年路",
    "胜利路",
    "世纪大道",
    "创业路",
    "学府路",
    "朝阳路",
    "迎宾大道",
    "东风路",
]
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂文辉力华建国玲红梅鹏飞宇浩然涵欣怡思远俊晓东海燕志春"
CORE_CHARS = (
    "华信恒达鑫源宏图盛世天成联创中科嘉禾瑞丰新锐东方金桥百川海纳博远卓越同心永安汇通润泽凯锦程易星辰智方圆诚广利启航"
)
TRADES = [
    "科技",
    "电子",
    "贸易",
    "机械",
    "建材",
    "物流",
    "医药",
    "食品",
    "能源",
    "化工",
    "软件",
    "纺织",
    "实业",
    "投资",
    "环保",
    "汽车",
    "网络",
    "信息技术",
    "文化传媒",
    "精密制造",
]
LEGAL_SUFFIXES = ["有限公司", "股份有限公司", "有限责任公司", "集团有限公司"]
INDUSTRIES = [
    "制造业",
    "信息技术",
    "批发零售",
    "建筑业",
    "医疗健康",
    "物流运输",
    "金融服务",
    "能源化工",
    "教育",
    "农业",
]
TITLES = ["", "经理", "总监", "采购", "工程师", "主任", "会计", "总经理", "店长"]
MOBILE_PREFIXES = ["138", "139", "135", "136", "137", "150", "151", "152", "158", "159", "186", "187", "188", "189"]
FREE_DOMAINS = ["163.com", "qq.com", "126.com", "sina.com", "foxmail.com", "139.com"]
ROLE_LOCAL_PARTS = ["info", "sales", "service", "contact", "office"]
SHARE_REASONS = ["协同跟进", "联合投标", "售后支持", "区域交接", "大客户协作", "渠道合作"]


def _pinyin(text: str) -> str:
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(text))


def h(expr: str, seed: int) -> str:
    """SQL for a deterministic non-negative pseudo-random bigint of `expr` (no abs(): it overflows)."""
    return f"(hashint8extended(({expr})::bigint, {seed}) & 9223372036854775807)"


def pick(array: str, expr: str, seed: int, size: int) -> str:
    """SQL picking one element of a 1-based array parameter by hash."""
    return f"({array})[1 + mod({h(expr, seed)}, {size})]"


# --- Helpers -------------------------------------------------------------------------------------


class Log:
    def __init__(self, write):
        self.write = write
        self.started = time.monotonic()
        self.last = self.started

    def step(self, message: str) -> None:
        now = time.monotonic()
        self.write(f"[{now - self.started:7.1f}s] (+{now - self.last:5.1f}s) {message}")
        sys.stdout.flush()
        self.last = now


def _execute(sql: str, params=None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _scalar(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


class DeferredIndexes:
    """Drop a table's secondary indexes, unique and foreign-key constraints; recreate them on exit.

    Building an index once over the loaded rows is several times faster than maintaining it row
    by row (customers carry 15 indexes). Runs inside the caller's transaction, so an error rolls
    the drop back too. The primary key stays (other tables' foreign keys point at it).
    """

    def __init__(self, *tables: str, log: Log | None = None):
        self.tables = tables
        self.log = log
        self.saved: list[tuple[str, str, str]] = []  # (kind, table, definition)

    def __enter__(self):
        _execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in self.tables:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype IN ('f', 'u') ORDER BY contype DESC",
                    [table],
                )
                constraints = cursor.fetchall()
                cursor.execute(
                    "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                    "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary "
                    "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
                    [table],
                )
                indexes = cursor.fetchall()
            for name, definition, kind in constraints:
                _execute(f"ALTER TABLE {_q(table)} DROP CONSTRAINT {_q(name)}")
                self.saved.append(("constraint" if kind == "u" else "fk", table, f"CONSTRAINT {_q(name)} {definition}"))
            for name, definition in indexes:
                _execute(f"DROP INDEX {_q(name)}")
                self.saved.append(("index", table, definition))
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            return False  # the transaction rolls the drops back
        _execute("SET CONSTRAINTS ALL DEFERRED")
        started = time.monotonic()
        for kind in ("index", "constraint", "fk"):
            for saved_kind, table, definition in self.saved:
                if saved_kind != kind:
                    continue
                if kind == "index":
                    _execute(definition)
                else:
                    _execute(f"ALTER TABLE {_q(table)} ADD {definition}")
        if self.log:
            self.log.step(
                f"rebuilt {sum(k == 'index' for k, _, _ in self.saved)} indexes and "
                f"{sum(k != 'index' for k, _, _ in self.saved)} constraints on {', '.join(self.tables)} "
                f"({time.monotonic() - started:.1f}s)"
            )
        return False


def fill_columns(model, given: dict[str, str]) -> tuple[list[str], list[str]]:
    """Columns and SQL expressions for an INSERT: `given` (column → SQL) plus every other NOT NULL
    column the model has, filled from the field's default or a neutral value of its type.

    Other engineers add fields while this harness exists; a new required column should not break
    the seeder. Nullable extra columns are left NULL.
    """
    columns, exprs = list(given), list(given.values())
    for f in model._meta.concrete_fields:
        if f.column in given or f.primary_key or f.null:
            continue
        columns.append(f.column)
        exprs.append(neutral_value(f))
    return columns, exprs


def _literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def neutral_value(f) -> str:
    """SQL for a plausible value of a required field nobody told the seeder about."""
    import json

    if isinstance(f, models.DateTimeField):
        return "now()"
    if isinstance(f, models.DateField):
        return "current_date"
    if f.has_default():
        default = f.get_default()
        if isinstance(f, models.JSONField):
            return _literal(json.dumps(default)) + "::jsonb"
        if isinstance(default, int | float | bool | str):
            return _literal(default)
    if f.choices:
        return _literal(f.choices[0][0])
    if isinstance(f, models.BooleanField):
        return "false"
    if isinstance(f, models.JSONField):
        return "'{}'::jsonb"
    if isinstance(f, models.IntegerField | models.DecimalField | models.FloatField):
        return "0"
    if isinstance(f, models.DurationField):
        return "interval '0'"
    if isinstance(f, models.UUIDField):
        return "gen_random_uuid()"
    if isinstance(f, models.CharField | models.TextField):
        return "''"
    raise RuntimeError(f"seed_scale does not know how to fill {f.model.__name__}.{f.name} ({type(f).__name__})")


def insert_select(model, given: dict[str, str], from_sql: str, params=None) -> int:
    columns, exprs = fill_columns(model, given)
    sql = (
        f"INSERT INTO {_q(model._meta.db_table)} ({', '.join(_q(c) for c in columns)}) "
        f"SELECT {', '.join(exprs)} {from_sql}"
    )
    return _execute(sql, params)


def reset_identity(model) -> None:
    table = model._meta.db_table
    pk = model._meta.pk.column
    _execute(
        f"SELECT setval(pg_get_serial_sequence(%s, %s), GREATEST((SELECT max({_q(pk)}) FROM {_q(table)}), 1))",
        [table, pk],
    )


def _referencing(table: str) -> list[tuple[str, str, bool]]:
    """(table, column, nullable) of every single-column foreign key pointing at `table`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.conrelid::regclass::text, a.attname, NOT a.attnotnull FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "WHERE c.contype = 'f' AND c.confrelid = %s::regclass AND array_length(c.conkey, 1) = 1",
            [table],
        )
        return cursor.fetchall()


def purge_rows(table: str, where: str, params, depth: int = 0) -> int:
    """Delete rows of `table` and what depends on them: nullable references are set to NULL,
    required ones deleted in turn (the database's ON DELETE is NO ACTION; Django cascades in Python)."""
    if depth > 6:
        raise RuntimeError(f"foreign keys nest too deep below {table}")
    temp = f"scale_purge_{depth}"
    _execute(f"DROP TABLE IF EXISTS {temp}")
    _execute(f"CREATE TEMP TABLE {temp} AS SELECT id FROM {_q(table)} WHERE {where}", params)
    for ref_table, column, nullable in _referencing(table):
        if ref_table == table and column == "parent_id":
            continue  # a tree deleted whole in one statement
        if nullable:
            _execute(f"UPDATE {ref_table} SET {_q(column)} = NULL WHERE {_q(column)} IN (SELECT id FROM {temp})")
        else:
            purge_rows(ref_table, f"{_q(column)} IN (SELECT id FROM {temp})", None, depth + 1)
            _execute(f"DROP TABLE IF EXISTS scale_purge_{depth + 1}")
    return _execute(f"DELETE FROM {_q(table)} WHERE id IN (SELECT id FROM {temp})")


def _table_exists(model) -> bool:
    return model._meta.db_table in connection.introspection.table_names()


def model_or_none(label: str):
    try:
        return apps.get_model(label)
    except LookupError:
        return None


# --- The seeder ----------------------------------------------------------------------------------


class AlreadySeeded(Exception):
    """The database already holds customers and --reset was not given: nothing was changed."""


class SeedError(Exception):
    """Sizes that cannot make a consistent company (reported as a command error)."""


class Seeder:
    def __init__(self, sizes: Sizes, write=print, strict: bool = False):
        self.sizes = sizes
        self.strict = strict
        self.log = Log(write)
        self.write = write
        self.stats: dict[str, int] = {}

    # -- entry points

    def run(self, *, reset: bool, engine_keys: bool = False) -> dict[str, int]:
        from customers.models import Customer

        if connection.vendor != "postgresql":
            raise RuntimeError(
                "seed_scale needs PostgreSQL: set DATABASE_URL=postgres://… (SQLite cannot load a million rows "
                "in reasonable time; use `manage.py seed_demo` for a small SQLite database)."
            )
        with transaction.atomic():
            existing = Customer.objects.count()
            if existing and not reset:
                raise AlreadySeeded(
                    f"The database already holds {existing} customers; nothing was changed. "
                    "Run with --reset to truncate the customer data and load again."
                )
            self._session_settings()
            if reset:
                self.reset()
            self.org()
            self.users()
            self.customers()
            self.shares()
            self.interactions()
            if not engine_keys:
                self.match_keys()
        if engine_keys:
            self.engine_keys()
        self.analyze()
        self.log.step("done")
        return self.stats

    def run_part(self, part: str, engine_keys: bool = False) -> dict[str, int]:
        """Reload one part (interactions or match keys) into an already seeded database."""
        if part == "matchkeys" and engine_keys:
            self.engine_keys()
            self.analyze(only=[model_or_none("dedup.MatchKey")])
            self.log.step("done")
            return self.stats
        with transaction.atomic():
            self._session_settings()
            self._load_context()
            if part == "interactions":
                self.interactions(replace_existing=True)
            elif part == "matchkeys":
                self.match_keys(replace_existing=True)
            else:
                raise ValueError(part)
        self.analyze(only=self._interaction_models() if part == "interactions" else [model_or_none("dedup.MatchKey")])
        self.log.step("done")
        return self.stats

    def engine_keys(self):
        MatchKey = model_or_none("dedup.MatchKey")
        if MatchKey is None or not _table_exists(MatchKey):
            self.log.step("match keys: dedup.MatchKey does not exist (or is not migrated) yet; skipped")
            return
        if connection.in_atomic_block:
            raise RuntimeError("engine keys fork worker processes: run them outside a transaction")
        self.stats.update(engine_match_keys(self, MatchKey))

    def _session_settings(self):
        _execute("SET LOCAL synchronous_commit = off")
        _execute("SET LOCAL maintenance_work_mem = '512MB'")
        _execute("SET LOCAL work_mem = '128MB'")

    # -- reset

    def reset(self):
        from customers.models import Customer

        tables = [Customer._meta.db_table]
        # TRUNCATE … CASCADE also empties every table holding a foreign key to customers
        # (profiles, contact points, shares, grants, interactions, dedup tables, …).
        _execute(f"TRUNCATE {', '.join(_q(t) for t in tables)} RESTART IDENTITY CASCADE")
        for model in [m for m in self._interaction_models() if _table_exists(m)]:
            _execute(f"TRUNCATE {_q(model._meta.db_table)} RESTART IDENTITY CASCADE")
        # Deleted in SQL following the database's own foreign keys, so models whose migrations are
        # still being written (or tables without a model) cannot break a reset.
        purge_rows("auth_user", "username LIKE %s", [SCALE_USER_PREFIX + "%"])
        purge_rows("auth_group", "name LIKE %s", [SCALE_GROUP_PREFIX + "%"])
        purge_rows("sharing_orgunit", "code LIKE %s", [SCALE_UNIT_PREFIX + "%"])
        self.log.step("reset: customer data truncated, scale users, groups and units deleted")

    # -- org tree

    def org(self):
        from crm.demo import ensure_personas

        OrgUnit = apps.get_model("sharing", "OrgUnit")
        self.personas = ensure_personas()
        units = {u.code: u for u in OrgUnit.objects.all()}
        hq = units["HQ"]
        weights = [PROVINCE_WEIGHT.get(code, 1.0) for code, *_ in PROVINCES]
        total_weight = sum(weights)
        n_regions = max(self.sizes.regions, len(PROVINCES))
        # Largest remainder: exactly n_regions, at least one per province.
        quotas = [max(1.0, n_regions * w / total_weight) for w in weights]
        per_province = [int(q) for q in quotas]
        by_remainder = sorted(range(len(quotas)), key=lambda i: quotas[i] - per_province[i], reverse=True)
        for i in by_remainder[: max(n_regions - sum(per_province), 0)]:
            per_province[i] += 1
        self.regions: list[dict] = []  # code, unit, province, city, area, postcode, admin
        self.provinces: list[dict] = []
        demo_region_by_city = {(p, c): code for code, (p, c) in DEMO_REGIONS.items()}
        for (code, short, official, admin, cities), count in zip(PROVINCES, per_province, strict=True):
            unit = units.get(code) or units.get(SCALE_UNIT_PREFIX + code)
            if unit is None:
                unit = OrgUnit(code=SCALE_UNIT_PREFIX + code, name=f"{short}省公司", kind="province", parent=hq)
                if official.endswith("市"):
                    unit.name = f"{short}市公司"
                elif "自治区" in official:
                    unit.name = f"{short}区公司"
                unit.save()
            self.provinces.append({"code": code, "unit": unit, "short": short})
            used_names = set()
            for i in range(count):
                city, area, postcode = cities[i % len(cities)]
                demo_code = demo_region_by_city.pop((code, city), None) if i < len(cities) else None
                if demo_code and demo_code in units:
                    region = units[demo_code]
                else:
                    if city in MUNICIPAL_DISTRICTS:
                        districts = MUNICIPAL_DISTRICTS[city]
                        part = districts[i % len(districts)] + ("" if i < len(districts) else "二部")
                        name = f"{part}办事处"
                    else:
                        part = OFFICE_PARTS[(i // len(cities)) % len(OFFICE_PARTS)]
                        name = f"{city}{part}办事处"
                    while name in used_names:
                        name = name.replace("办事处", "二部办事处")
                    region_code = f"{SCALE_UNIT_PREFIX}{code}-R{i + 1:02d}"
                    region = units.get(region_code)
                    if region is None:
                        region = OrgUnit(code=region_code, name=name, kind="region", parent=unit)
                        region.save()
                used_names.add(region.name)
                self.regions.append(
                    {
                        "unit": region,
                        "province_code": code,
                        "province": short,
                        "official": official,
                        "city": city,
                        "area": area,
                        "postcode": postcode,
                        "admin": admin,
                    }
                )
        # Dealers hang under regions, round robin over the busiest provinces first.
        self.dealers: list[dict] = []
        for code, region_code in DEMO_DEALERS.items():
            if code in units:
                region = next(r for r in self.regions if r["unit"].code == region_code)
                self.dealers.append({"unit": units[code], "region": region})
        ordered = sorted(self.regions, key=lambda r: -PROVINCE_WEIGHT.get(r["province_code"], 1.0))
        for i in range(max(self.sizes.dealers - len(self.dealers), 0)):
            region = ordered[(i * 7) % len(ordered)]
            dealer_code = f"{SCALE_UNIT_PREFIX}D{i + 1:03d}"
            unit = units.get(dealer_code)
            if unit is None:
                core = CORE_CHARS[(i * 3) % len(CORE_CHARS)] + CORE_CHARS[(i * 7 + 1) % len(CORE_CHARS)]
                unit = OrgUnit(
                    code=dealer_code, name=f"{region['city']}{core}经销商", kind="dealer", parent=region["unit"]
                )
                unit.save()
            self.dealers.append({"unit": unit, "region": region})
        self.units = {u.code: u for u in OrgUnit.objects.all()}
        self.stats["org_units"] = len(self.units)
        self.log.step(
            f"org tree: {len(self.provinces)} provinces, {len(self.regions)} regions, {len(self.dealers)} dealers, "
            f"{len(self.units)} units in all"
        )

    # -- users

    def users(self):
        User = get_user_model()
        Membership = apps.get_model("sharing", "Membership")
        RolePolicy = apps.get_model("sharing", "RolePolicy")
        roles = {p.code: p.group_id for p in RolePolicy.objects.all()}
        password = make_password("demo-pass-2026")
        sizes = self.sizes
        n_personas = len(self.personas)
        available = max(sizes.users - n_personas - 1, 0)

        plan: list[tuple[str, str, object, bool]] = []  # username, role, unit, is_manager

        def add(prefix, count, role, units_cycle, manager=False):
            for i in range(count):
                unit = units_cycle[i % len(units_cycle)]
                plan.append((f"{SCALE_USER_PREFIX}{prefix}_{i + 1:04d}", role, unit, manager))

        hq, svc, fin = self.units["HQ"], self.units["HQ-SVC"], self.units["HQ-FIN"]
        region_units = [r["unit"] for r in self.regions]
        province_units = [p["unit"] for p in self.provinces]
        dealer_units = [d["unit"] for d in self.dealers]
        share = lambda ratio, minimum=1: max(minimum, round(available * ratio))  # noqa: E731
        add("exec", share(0.002), "executive", [hq])
        add("steward", share(0.002), "data_steward", [hq])
        add("auditor", share(0.001), "auditor", [hq])
        add("svc", share(0.03), "service_agent", [svc])
        add("fin", share(0.015), "finance_clerk", [fin])
        managed = set(Membership.objects.filter(is_manager=True).values_list("unit_id", flat=True))
        unmanaged = [u for u in province_units if u.pk not in managed]
        if unmanaged:
            add("pmgr", len(unmanaged), "sales_manager", unmanaged, True)
        add("rmgr", min(len(region_units) // 4, share(0.04)), "sales_manager", region_units[::4], True)
        add("chan", min(len(province_units), share(0.013)), "channel_manager", province_units)
        add("dealer", max(len(dealer_units), share(0.1)), "dealer", dealer_units)
        minimum = n_personas + 1 + len(plan) + 1
        if sizes.users < minimum:
            raise SeedError(
                f"--users {sizes.users} is too few for this org: the {n_personas} demo personas, a manager per "
                f"province, the other roles and at least one rep need {minimum} (or pass fewer --regions/--dealers)"
            )
        reps = max(sizes.users - n_personas - 1 - len(plan), 1)
        add("rep", reps, "sales_rep", region_units)

        rng_names = [(SURNAMES[(i * 7) % len(SURNAMES)], GIVEN[(i * 13) % len(GIVEN)]) for i in range(len(plan) + 1)]
        new_users = [
            User(
                username=username,
                first_name=rng_names[i][1],
                last_name=rng_names[i][0],
                email=f"{username}@example.com",
                password=password,
                is_active=True,
            )
            for i, (username, *_rest) in enumerate(plan)
        ]
        new_users.append(
            User(
                username=BIG_SHARE_USER,
                first_name="联合",
                last_name="审",
                email=f"{BIG_SHARE_USER}@example.com",
                password=password,
            )
        )
        created = User.objects.bulk_create(new_users, batch_size=1000)
        by_name = {u.username: u for u in created}
        share_region = self.regions[len(self.regions) // 2]["unit"]
        plan.append((BIG_SHARE_USER, "sales_rep", share_region, False))
        Membership.objects.bulk_create(
            [Membership(user=by_name[u], unit=unit, is_manager=mgr) for u, _role, unit, mgr in plan], batch_size=1000
        )
        Through = User.groups.through
        Through.objects.bulk_create(
            [Through(user_id=by_name[u].pk, group_id=roles[role]) for u, role, _unit, _mgr in plan], batch_size=2000
        )
        # Who owns customers, and how often (a slot list: reps most, then dealers and managers).
        persona = self.personas
        self.user_role = {by_name[u].pk: (role, unit) for u, role, unit, _m in plan}
        for username, user in persona.items():
            from crm.demo import PERSONAS

            _full, role, unit_code, _mgr = PERSONAS[username]
            self.user_role[user.pk] = (role, self.units[unit_code])
        self.all_user_ids = sorted(self.user_role)
        self.field_user_ids = [
            uid for uid, (role, _u) in self.user_role.items() if role in ("sales_rep", "sales_manager", "dealer")
        ]
        # Project groups with members from the field, and the big-share group.
        groups = Group.objects.bulk_create(
            [Group(name=f"{SCALE_GROUP_PREFIX}项目组 {i + 1:03d}") for i in range(max(self.sizes.groups - 1, 0))]
            + [Group(name=BIG_SHARE_GROUP)]
        )
        self.project_group_ids = [g.pk for g in groups[:-1]]
        self.big_group_id = groups[-1].pk
        members = []
        field = self.field_user_ids
        for gi, group in enumerate(groups[:-1]):
            for k in range(8 + gi % 8):
                members.append(Through(user_id=field[(gi * 37 + k * 101) % len(field)], group_id=group.pk))
        members.append(Through(user_id=by_name[BIG_SHARE_USER].pk, group_id=self.big_group_id))
        for k in range(4):
            members.append(Through(user_id=field[(k * 211 + 5) % len(field)], group_id=self.big_group_id))
        Through.objects.bulk_create(members, ignore_conflicts=True, batch_size=2000)
        self.stats["users"] = User.objects.count()
        self.stats["groups"] = len(groups)
        self.log.step(
            f"users: {len(created)} created ({len(plan)} memberships), {n_personas} demo personas kept, "
            f"{len(groups)} groups"
        )

    def _load_context(self):
        """For part reloads: what `org()` and `users()` would have computed."""
        from customers.models import Customer

        User = get_user_model()
        self.field_user_ids = list(
            User.objects.filter(groups__policy__code__in=["sales_rep", "sales_manager", "dealer"]).values_list(
                "pk", flat=True
            )
        )
        self.id0 = (Customer.objects.order_by("pk").values_list("pk", flat=True).first() or 1) - 1
        self.n_customers = Customer.objects.count()
        self.timeline_customer_id = timeline_customer_id()

    # -- customers

    def _slot_tables(self):
        """Temp tables the customer generator joins: regions, and owner slots weighted by role."""
        _execute("DROP TABLE IF EXISTS scale_region, scale_slot")
        _execute(
            "CREATE TEMP TABLE scale_region (region int PRIMARY KEY, unit_id bigint, province text, official text, "
            "city text, area text, postcode text, admin text, addr_prefix text) ON COMMIT DROP"
        )
        rows = []
        region_index = {}
        for i, r in enumerate(self.regions, start=1):
            region_index[r["unit"].pk] = i
            municipal = r["official"].endswith("市")
            prefix = r["official"] if municipal else f"{r['official']}{r['city']}市"
            rows.append(
                (
                    i,
                    r["unit"].pk,
                    r["province"],
                    r["official"],
                    r["city"],
                    r["area"],
                    r["postcode"],
                    r["admin"],
                    prefix,
                )
            )
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO scale_region VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
        dealer_region = {d["unit"].pk: region_index[d["region"]["unit"].pk] for d in self.dealers}
        slots = []
        weights = {"sales_rep": 6, "dealer": 3, "sales_manager": 1}
        for uid in sorted(self.field_user_ids):
            role, unit = self.user_role[uid]
            region = region_index.get(unit.pk) or dealer_region.get(unit.pk)
            if region is None:  # a province manager: customers in the province's first region
                region = next(
                    (region_index[r["unit"].pk] for r in self.regions if r["unit"].parent_id == unit.pk), None
                )
            if region is None:
                continue
            slots.extend([(uid, unit.pk, region)] * weights.get(role, 1))
        # Pool customers: no owner, kept by the region (about 2%).
        pool = max(1, len(slots) // 50)
        for i in range(pool):
            r = self.regions[(i * 13) % len(self.regions)]
            slots.append((None, r["unit"].pk, region_index[r["unit"].pk]))
        _execute(
            "CREATE TEMP TABLE scale_slot (slot int PRIMARY KEY, owner_id int, unit_id bigint, region int) "
            "ON COMMIT DROP"
        )
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO scale_slot VALUES (%s, %s, %s, %s)",
                [(i, owner, unit, region) for i, (owner, unit, region) in enumerate(slots, start=1)],
            )
        self.n_slots = len(slots)

    def customers(self):
        from customers.models import (
            CompanyProfile,
            ContactPoint,
            Customer,
            CustomerRole,
            NumberSequence,
            PersonProfile,
            Relationship,
            Tag,
        )
        from customers.services import NUMBER_DIGITS, NUMBER_PREFIX

        n = self.sizes.customers
        n_orig = max(1, n - int(n * self.sizes.duplicate_ratio))
        self._slot_tables()
        seq, _ = NumberSequence.objects.select_for_update().get_or_create(name="customer")
        first_number = seq.last_value + 1
        if first_number + n > 10**NUMBER_DIGITS:
            raise RuntimeError("customer numbers would overflow their digits")
        seq.last_value += n
        seq.save(update_fields=["last_value"])
        self.id0 = _scalar("SELECT coalesce(max(id), 0) FROM customers_customer")
        self.n_customers = n

        surnames, given = list(SURNAMES), list(GIVEN)
        cores = list(CORE_CHARS)
        params = {
            "surnames": surnames,
            "given": given,
            "given_py": [_pinyin(c) for c in given],
            "surnames_py": [_pinyin(c) for c in surnames],
            "cores": cores,
            "cores_py": [_pinyin(c) for c in cores],
            "trades": TRADES,
            "trades_py": [_pinyin(t) for t in TRADES],
            "suffixes": LEGAL_SUFFIXES,
        }
        ns, ng, nc, nt, nx = len(surnames), len(given), len(cores), len(TRADES), len(LEGAL_SUFFIXES)
        # Step 1: one temp row per customer with everything the inserts below need.
        # b = the "real-world entity" a row describes: itself, or for a duplicate another customer.
        _execute("DROP TABLE IF EXISTS scale_c")
        suffix_dup = f"mod({h('b', 6)} + 1 + mod({h('i', 7)}, {nx - 1}), {nx})"
        _execute(
            f"""
            CREATE TEMP TABLE scale_c ON COMMIT DROP AS
            SELECT x.*, {self.id0} + x.i AS id,
                   '{NUMBER_PREFIX}' || lpad(({first_number - 1} + x.i)::text, {NUMBER_DIGITS}, '0') AS number,
                   o.owner_id, o.unit_id, r.province, r.official, r.city, r.area, r.postcode, r.admin, r.addr_prefix,
                   CASE WHEN x.company THEN
                        CASE WHEN x.dup AND mod({h("i", 8)}, 2) = 0
                             THEN x.core || x.trade || '(' || r.city || ')' || x.suffix
                             ELSE r.city || x.core || x.trade || x.suffix END
                        ELSE x.pname END AS name
            FROM (
                SELECT i, b, dup, company, bslot,
                       CASE WHEN dup THEN 1 + mod({h("i", 3)}, {self.n_slots}) ELSE bslot END AS oslot,
                       {pick("%(cores)s::text[]", "b", 11, nc)} || {pick("%(cores)s::text[]", "b", 12, nc)} AS core,
                       {pick("%(cores_py)s::text[]", "b", 11, nc)} || {pick("%(cores_py)s::text[]", "b", 12, nc)}
                           AS core_py,
                       {pick("%(trades)s::text[]", "b", 13, nt)} AS trade,
                       {pick("%(trades_py)s::text[]", "b", 13, nt)} AS trade_py,
                       (%(suffixes)s::text[])[1 + CASE WHEN dup THEN {suffix_dup} ELSE mod({h("b", 6)}, {nx}) END]
                           AS suffix,
                       {pick("%(surnames)s::text[]", "b", 14, ns)} || {pick("%(given)s::text[]", "b", 15, ng)}
                           || CASE WHEN mod({h("b", 16)}, 2) = 0 THEN {pick("%(given)s::text[]", "b", 17, ng)}
                                   ELSE '' END AS pname,
                       {pick("%(surnames_py)s::text[]", "b", 14, ns)} AS sur_py,
                       {pick("%(given_py)s::text[]", "b", 15, ng)} AS given_py,
                       mod({h("i", 40)}, 730 * 86400) AS updated_ago,
                       mod({h("i", 41)}, 1095 * 86400) AS age
                FROM (
                    SELECT i, b, i > {n_orig} AS dup, mod({h("b", 1)}, 100) < 40 AS company,
                           1 + mod({h("b", 2)}, {self.n_slots}) AS bslot
                    FROM (
                        SELECT i, CASE WHEN i > {n_orig} THEN 1 + mod({h("i", 101)}, {n_orig}) ELSE i END AS b
                        FROM generate_series(1, {n}) AS i
                    ) g0
                ) g1
            ) x
            JOIN scale_slot bs ON bs.slot = x.bslot
            JOIN scale_region r ON r.region = bs.region
            JOIN scale_slot o ON o.slot = x.oslot
            """,
            params,
        )
        _execute("ALTER TABLE scale_c ADD PRIMARY KEY (i)")
        _execute("ANALYZE scale_c")
        self.log.step(f"customers: generated {n} rows ({n - n_orig} duplicates) in a temp table")

        customer_tables = [
            Customer._meta.db_table,
            CompanyProfile._meta.db_table,
            PersonProfile._meta.db_table,
            ContactPoint._meta.db_table,
            Relationship._meta.db_table,
            Customer.roles.through._meta.db_table,
            Customer.tags.through._meta.db_table,
        ]
        with DeferredIndexes(*customer_tables, log=self.log):
            rows = insert_select(
                Customer,
                {
                    "id": "id",
                    "number": "number",
                    "kind": "CASE WHEN company THEN 'company' ELSE 'person' END",
                    "name": "name",
                    "name_normalized": "lower(name)",
                    "status": f"CASE WHEN mod({h('i', 20)}, 100) < 3 THEN 'inactive' ELSE 'active' END",
                    "source": (
                        f"CASE WHEN dup THEN 'channel' ELSE (ARRAY['key_account','channel','service','web','import',"
                        f"'other'])[1 + mod({h('b', 21)}, 6)] END"
                    ),
                    "province": "province",
                    "city": "city",
                    "quality_score": f"40 + mod({h('i', 22)}, 61)",
                    "version": "1",
                    "created_at": "now() - make_interval(secs => updated_ago + age)",
                    "updated_at": "now() - make_interval(secs => updated_ago)",
                    "created_by_id": "owner_id",
                    "updated_by_id": "owner_id",
                    "org_unit_id": "unit_id",
                    "owner_id": "owner_id",
                },
                "FROM scale_c",
            )
            self.stats["customers"] = rows
            self.log.step(f"customers: {rows} inserted")
            self._profiles(CompanyProfile, PersonProfile)
            self._contacts(ContactPoint)
            self._roles_and_tags(Customer, CustomerRole, Tag)
            self._relationships(Relationship)
        reset_identity(Customer)
        for model in (CompanyProfile, PersonProfile, ContactPoint, Relationship):
            reset_identity(model)

    def _profiles(self, CompanyProfile, PersonProfile):
        # Unified social credit code: '91' + 6-digit admin code + 9 digits, check character per GB 32100.
        weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
        chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        first17 = f"('91' || admin || lpad(mod({h('b', 30)}, 10000)::text, 4, '0') || lpad(mod(b * 7919, 1000000000)::text, 9, '0'))"
        checksum = " + ".join(f"substr(f17, {i + 1}, 1)::int * {w}" for i, w in enumerate(weights))
        credit = f"f17 || substr('{chars}', 1 + mod(31 - mod({checksum}, 31), 31), 1)"
        rows = insert_select(
            CompanyProfile,
            {
                "customer_id": "id",
                "industry": f"(ARRAY[{', '.join(_literal(x) for x in INDUSTRIES)}])[1 + mod({h('b', 31)}, {len(INDUSTRIES)})]",
                "credit_code": f"CASE WHEN dup AND mod({h('i', 32)}, 2) = 0 THEN '' ELSE {credit} END",
                "founded_on": f"date '2024-01-01' - mod({h('b', 33)}, 9000)::int",
                "size": f"(ARRAY['micro','small','medium','large'])[1 + mod({h('b', 34)}, 4)]",
                "website": "CASE WHEN dup THEN '' ELSE 'https://www.' || core_py || b || '.cn' END",
                "registered_address": "''",
            },
            f"FROM (SELECT *, {first17} AS f17 FROM scale_c WHERE company) c",
        )
        # Resident identity number for 40% of persons: admin code + birth date + sequence + check.
        id_weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        id_check = " + ".join(f"substr(p17, {i + 1}, 1)::int * {w}" for i, w in enumerate(id_weights))
        prows = insert_select(
            PersonProfile,
            {
                "customer_id": "id",
                "gender": f"(ARRAY['f','m'])[1 + mod({h('b', 35)}, 2)]",
                "birth_date": "birth",
                "marital_status": f"(ARRAY['single','married','married','other',''])[1 + mod({h('b', 36)}, 5)]",
                "title": f"(ARRAY[{', '.join(_literal(t) for t in TITLES)}])[1 + mod({h('b', 37)}, {len(TITLES)})]",
                "id_number": (
                    f"CASE WHEN NOT dup AND mod({h('b', 38)}, 100) < 40 "
                    f"THEN p17 || substr('10X98765432', 1 + mod({id_check}, 11), 1) ELSE '' END"
                ),
            },
            f"""FROM (SELECT *, admin || '0100' || to_char(birth, 'YYYYMMDD')
                           || lpad(mod({h("b", 39)}, 1000)::text, 3, '0') AS p17
                    FROM (SELECT *, date '1950-01-01' + mod({h("b", 42)}, 18000)::int AS birth
                          FROM scale_c WHERE NOT company) c0) c""",
        )
        self.stats["company_profiles"], self.stats["person_profiles"] = rows, prows
        self.log.step(f"profiles: {rows} companies, {prows} persons")

    def _contacts(self, ContactPoint):
        n_pref = len(MOBILE_PREFIXES)
        mobile = (
            f"((ARRAY[{', '.join(_literal(p) for p in MOBILE_PREFIXES)}])[1 + mod({h('b', 50)}, {n_pref})] "
            "|| lpad(mod(b * 73939133, 100000000)::text, 8, '0'))"
        )
        # The same number written four ways; a duplicate uses another way than its original.
        variant = f"mod({h('b', 51)} + CASE WHEN dup THEN 1 + mod({h('i', 52)}, 3) ELSE 0 END, 4)"
        mobile_value = (
            f"CASE {variant} WHEN 0 THEN m WHEN 1 THEN substr(m, 1, 3) || ' ' || substr(m, 4, 4) || ' ' || substr(m, 8) "
            "WHEN 2 THEN substr(m, 1, 3) || '-' || substr(m, 4, 4) || '-' || substr(m, 8) "
            "ELSE '+86 ' || substr(m, 1, 3) || ' ' || substr(m, 4, 4) || ' ' || substr(m, 8) END"
        )
        local = f"((2 + mod({h('b', 53)}, 7))::text || lpad(mod(b * 7310033, 10000000)::text, 7, '0'))"
        landline_value = (
            f"CASE {variant} WHEN 0 THEN area || '-' || l WHEN 1 THEN '(' || area || ') ' || substr(l, 1, 4) || ' ' "
            "|| substr(l, 5) WHEN 2 THEN '+86 ' || substr(area, 2) || ' ' || substr(l, 1, 4) || ' ' || substr(l, 5) "
            "ELSE area || l END"
        )
        common = {
            "customer_id": "id",
            "province": "''",
            "city": "''",
            "district": "''",
            "postcode": "''",
            "is_valid": "true",
            "marketing_consent": f"mod({h('i', 54)}, 100) < 40",
            "created_at": "now() - make_interval(secs => updated_ago + age)",
            "updated_at": "now() - make_interval(secs => updated_ago)",
        }
        total = 0
        total += insert_select(
            ContactPoint,
            {
                **common,
                "kind": "'mobile'",
                "value": mobile_value,
                "normalized": "'+86' || m",
                "is_primary": "true",
            },
            f"FROM (SELECT *, {mobile} AS m FROM scale_c WHERE NOT company) c",
        )
        total += insert_select(
            ContactPoint,
            {
                **common,
                "kind": "'landline'",
                "value": landline_value,
                "normalized": "'+86' || substr(area, 2) || l",
                "is_primary": "true",
            },
            f"FROM (SELECT *, {local} AS l FROM scale_c WHERE company) c",
        )
        email_company = (
            f"(ARRAY[{', '.join(_literal(x) for x in ROLE_LOCAL_PARTS)}])[1 + mod({h('b', 55)}, {len(ROLE_LOCAL_PARTS)})]"
            " || '@' || core_py || b || '.cn'"
        )
        email_person = (
            f"given_py || '.' || sur_py || b || '@' || (ARRAY[{', '.join(_literal(x) for x in FREE_DOMAINS)}])"
            f"[1 + mod({h('b', 56)}, {len(FREE_DOMAINS)})]"
        )
        email = f"CASE WHEN company THEN {email_company} ELSE {email_person} END"
        total += insert_select(
            ContactPoint,
            {**common, "kind": "'email'", "value": email, "normalized": email, "is_primary": "false"},
            f"FROM scale_c WHERE NOT dup AND (company OR mod({h('b', 57)}, 2) = 0)",
        )
        district = f"(ARRAY[{', '.join(_literal(x) for x in DISTRICTS)}])[1 + mod({h('b', 58)}, {len(DISTRICTS)})]"
        street = (
            f"(ARRAY[{', '.join(_literal(x) for x in STREETS)}])[1 + mod({h('b', 59)}, {len(STREETS)})]"
            f" || (1 + mod({h('b', 60)}, 999))::text || '号'"
        )
        address = "CASE WHEN dup THEN city || '市' ELSE addr_prefix END || d || st"
        total += insert_select(
            ContactPoint,
            {
                **common,
                "kind": "'address'",
                "value": address,
                "normalized": f"lower({address})",
                "province": "province",
                "city": "city",
                "district": "d",
                "postcode": "postcode",
                "is_primary": "true",
            },
            f"FROM (SELECT *, {district} AS d, {street} AS st FROM scale_c) c",
        )
        wechat = "'wxid_' || substr(md5(b::text), 1, 12)"
        total += insert_select(
            ContactPoint,
            {**common, "kind": "'wechat'", "value": wechat, "normalized": wechat, "is_primary": "false"},
            f"FROM scale_c WHERE NOT company AND NOT dup AND mod({h('b', 61)}, 100) < 30",
        )
        self.stats["contact_points"] = total
        self.log.step(f"contact points: {total}")

    def _roles_and_tags(self, Customer, CustomerRole, Tag):
        role_ids = dict(CustomerRole.objects.values_list("code", "pk"))
        Roles = Customer.roles.through
        total = 0
        if "customer" in role_ids:
            total += insert_select(
                Roles, {"customer_id": "id", "customerrole_id": str(role_ids["customer"])}, "FROM scale_c"
            )
        for code, pct, seed in (("debtor", 30, 62), ("supplier", 5, 63), ("partner", 3, 64)):
            if code in role_ids:
                total += insert_select(
                    Roles,
                    {"customer_id": "id", "customerrole_id": str(role_ids[code])},
                    f"FROM scale_c WHERE company AND mod({h('b', seed)}, 100) < {pct}",
                )
        tags = {
            name: Tag.objects.get_or_create(name=name)[0].pk for name in ("VIP", "重点客户", "潜在流失", TIMELINE_TAG)
        }
        Tags = Customer.tags.through
        for name, pct, seed in (("VIP", 2, 65), ("重点客户", 5, 66), ("潜在流失", 3, 67)):
            total += insert_select(
                Tags,
                {"customer_id": "id", "tag_id": str(tags[name])},
                f"FROM scale_c WHERE mod({h('i', seed)}, 100) < {pct}",
            )
        # The 360 bench customer: a company of the Shenzhen demo rep (visible to rep, manager, HQ).
        owner = self.personas["sz_rep"].pk
        self.timeline_customer_id = _scalar(
            "SELECT id FROM scale_c WHERE owner_id = %s AND company AND NOT dup ORDER BY i LIMIT 1", [owner]
        ) or _scalar("SELECT id FROM scale_c ORDER BY i LIMIT 1")
        Tags.objects.create(customer_id=self.timeline_customer_id, tag_id=tags[TIMELINE_TAG])
        self.stats["customer_roles"] = total
        self.log.step(f"customer roles and tags: {total} links; 360 customer id={self.timeline_customer_id}")

    def _relationships(self, Relationship):
        _execute("DROP TABLE IF EXISTS scale_rank")
        _execute(
            "CREATE TEMP TABLE scale_rank ON COMMIT DROP AS "
            "SELECT id, company, row_number() OVER (PARTITION BY company ORDER BY i) AS r FROM scale_c WHERE NOT dup"
        )
        _execute("ALTER TABLE scale_rank ADD PRIMARY KEY (company, r)")
        n_comp = _scalar("SELECT count(*) FROM scale_rank WHERE company") or 0
        n_pers = _scalar("SELECT count(*) FROM scale_rank WHERE NOT company") or 0
        total = 0
        common = {"share_percent": "NULL", "created_at": "now()"}
        if n_comp and n_pers:
            total += insert_select(
                Relationship,
                {
                    **common,
                    "from_customer_id": "c.id",
                    "to_customer_id": "p.id",
                    "kind": "'employs'",
                    "title": "'联系人'",
                },
                f"FROM scale_rank p JOIN scale_rank c ON c.company AND c.r = 1 + mod({h('p.id', 70)}, {n_comp}) "
                f"WHERE NOT p.company AND mod({h('p.id', 71)}, 100) < 30",
            )
        if n_comp > 1:
            total += insert_select(
                Relationship,
                {
                    **common,
                    "from_customer_id": "a.id",
                    "to_customer_id": "b.id",
                    "kind": "'holds'",
                    "share_percent": f"(ARRAY[10, 25, 51, 100])[1 + mod({h('a.id', 72)}, 4)]",
                    "title": "''",
                },
                f"FROM scale_rank a JOIN scale_rank b ON b.company AND b.r = a.r + 1 "
                f"WHERE a.company AND mod({h('a.id', 73)}, 100) < 5",
            )
        if n_pers > 1:
            total += insert_select(
                Relationship,
                {**common, "from_customer_id": "a.id", "to_customer_id": "b.id", "kind": "'spouse_of'", "title": "''"},
                f"FROM scale_rank a JOIN scale_rank b ON NOT b.company AND b.r = a.r + 1 "
                f"WHERE NOT a.company AND mod(a.r, 2) = 1 AND mod({h('a.id', 74)}, 100) < 6",
            )
        self.stats["relationships"] = total
        self.log.step(f"relationships: {total}")

    # -- shares

    def shares(self):
        CustomerUserShare = apps.get_model("sharing", "CustomerUserShare")
        CustomerGroupShare = apps.get_model("sharing", "CustomerGroupShare")
        perms = dict(
            Permission.objects.filter(content_type__app_label="customers", content_type__model="customer").values_list(
                "codename", "pk"
            )
        )
        view, change = perms["view_customer"], perms["change_customer"]
        n = self.n_customers
        total = min(self.sizes.shares, n)
        big = min(self.sizes.big_share, total)
        rest = total - big
        n_group = rest // 4
        n_user = rest - n_group
        # k ↦ customer (k·P mod n) is a bijection on [0, n): every share has its own customer,
        # so the guardian unique constraints (user/group, permission, object) always hold.
        step = 1_000_003
        while math.gcd(step, n) != 1:
            step += 2
        customer = f"{self.id0} + 1 + mod(k::bigint * {step}, {n})"
        expiry = (
            f"CASE WHEN mod({h('k', 80)}, 100) < 70 THEN NULL "
            f"WHEN mod({h('k', 80)}, 100) < 80 THEN now() - make_interval(days => 1 + mod({h('k', 81)}, 90)::int) "
            f"WHEN mod({h('k', 80)}, 100) < 90 THEN now() + make_interval(hours => 1 + mod({h('k', 82)}, 168)::int) "
            f"ELSE now() + make_interval(days => 30 + mod({h('k', 83)}, 150)::int) END"
        )
        reason = (
            f"(ARRAY[{', '.join(_literal(x) for x in SHARE_REASONS)}])[1 + mod({h('k', 84)}, {len(SHARE_REASONS)})]"
        )
        permission = f"CASE WHEN mod({h('k', 85)}, 100) < 80 THEN {view} ELSE {change} END"
        field_users = sorted(self.field_user_ids)
        groups = self.project_group_ids or [self.big_group_id]
        with DeferredIndexes(CustomerUserShare._meta.db_table, CustomerGroupShare._meta.db_table, log=self.log):
            users_n = insert_select(
                CustomerUserShare,
                {
                    "content_object_id": customer,
                    "user_id": f"(%(users)s::int[])[1 + mod({h('k', 86)}, {len(field_users)})]",
                    "permission_id": permission,
                    "expires_at": expiry,
                    "granted_by_id": "NULL",
                    "reason": reason,
                    "created_at": f"now() - make_interval(days => mod({h('k', 87)}, 365)::int)",
                },
                f"FROM generate_series({big}, {big + n_user - 1}) AS k",
                {"users": field_users},
            )
            groups_n = insert_select(
                CustomerGroupShare,
                {
                    "content_object_id": customer,
                    "group_id": f"(%(groups)s::int[])[1 + mod({h('k', 88)}, {len(groups)})]",
                    "permission_id": permission,
                    "expires_at": expiry,
                    "granted_by_id": "NULL",
                    "reason": reason,
                    "created_at": f"now() - make_interval(days => mod({h('k', 87)}, 365)::int)",
                },
                f"FROM generate_series({big + n_user}, {total - 1}) AS k",
                {"groups": groups},
            )
            big_n = insert_select(
                CustomerGroupShare,
                {
                    "content_object_id": customer,
                    "group_id": str(self.big_group_id),
                    "permission_id": str(view),
                    "expires_at": "NULL",
                    "granted_by_id": "NULL",
                    "reason": "'大客户联合审计'",
                    "created_at": "now() - interval '30 days'",
                },
                f"FROM generate_series(0, {big - 1}) AS k",
            )
        reset_identity(CustomerUserShare)
        reset_identity(CustomerGroupShare)
        self.stats["user_shares"], self.stats["group_shares"] = users_n, groups_n + big_n
        self.log.step(f"shares: {users_n} with users, {groups_n} with groups, {big_n} in the big group share")

    # -- interactions

    def _interaction_models(self):
        from customers.models import Customer

        try:
            config = apps.get_app_config("interactions")
        except LookupError:
            return []
        found = []
        for model in config.get_models():
            if model._meta.abstract or model._meta.proxy or not model._meta.managed:
                continue
            if any(
                isinstance(f, models.ForeignKey) and f.related_model is Customer for f in model._meta.concrete_fields
            ):
                found.append(model)
        return found

    def interactions(self, replace_existing: bool = False):
        found = [m for m in self._interaction_models() if _table_exists(m)]
        if not found:
            self.log.step("interactions: no migrated interactions models with a customer yet; skipped")
            return
        try:
            with transaction.atomic():
                self.stats.update(load_interactions(self, found, replace_existing=replace_existing))
        except Exception as exc:  # the models are young: report, keep the customers
            if self.strict:
                raise
            self.log.step(f"interactions: FAILED and rolled back ({type(exc).__name__}: {exc}); customers kept")

    # -- dedup match keys

    def match_keys(self, replace_existing: bool = False):
        MatchKey = model_or_none("dedup.MatchKey")
        if MatchKey is None or not _table_exists(MatchKey):
            self.log.step("match keys: dedup.MatchKey does not exist (or is not migrated) yet; skipped")
            return
        try:
            with transaction.atomic():
                self.stats.update(load_match_keys(self, MatchKey, replace_existing=replace_existing))
        except Exception as exc:  # the dedup models are young: report, keep the customers
            if self.strict:
                raise
            self.log.step(f"match keys: FAILED and rolled back ({type(exc).__name__}: {exc}); customers kept")

    # -- statistics

    def analyze(self, only=None):
        if only is not None:
            tables = [m._meta.db_table for m in only if m is not None and _table_exists(m)]
            return self._vacuum(tables)
        tables = [
            "customers_customer",
            "customers_contactpoint",
            "customers_companyprofile",
            "customers_personprofile",
            "customers_relationship",
            "customers_customer_roles",
            "customers_customer_tags",
            "sharing_customerusershare",
            "sharing_customergroupshare",
            "sharing_orgunit",
            "sharing_membership",
            "auth_user",
            "auth_user_groups",
        ]
        tables += [m._meta.db_table for m in self._interaction_models() if _table_exists(m)]
        MatchKey = model_or_none("dedup.MatchKey")
        if MatchKey is not None and _table_exists(MatchKey):
            tables.append(MatchKey._meta.db_table)
        self._vacuum(tables)

    def _vacuum(self, tables):
        if connection.in_atomic_block:
            # Inside a test transaction VACUUM is impossible; statistics are enough there.
            for table in tables:
                _execute(f"ANALYZE {_q(table)}")
            self.log.step("ANALYZE done")
            return
        # VACUUM sets the visibility map, so counts can use index-only scans from the first request.
        for table in tables:
            _execute(f"VACUUM (ANALYZE) {_q(table)}")
        self.log.step("VACUUM ANALYZE done")


# --- Interactions and match keys ------------------------------------------------------------------

ACTIVITY_SUBJECTS = {
    "call": ["电话回访", "电话沟通采购需求", "确认订单交期", "催收货款提醒", "新品推介电话"],
    "visit": ["上门拜访", "现场技术交流", "工厂实地考察", "节前客户走访"],
    "email": ["发送产品资料", "邮件确认合同条款", "发送报价说明", "寄送对账单"],
    "meeting": ["项目启动会", "季度业务回顾", "年度框架协议谈判", "技术方案评审会"],
    "message": ["微信沟通交付时间", "短信通知发货", "企业微信确认样品"],
    "note": ["客户反馈记录", "竞品动态备注", "关键联系人变更"],
}
PRODUCTS = [
    "数控机床",
    "工业机器人",
    "服务器",
    "办公设备",
    "物流系统",
    "ERP系统",
    "安防设备",
    "净水设备",
    "空压机",
    "配电柜",
]
PROJECTS = ["采购项目", "升级改造项目", "年度框架协议", "扩产项目", "替换项目"]
CASE_SUBJECTS = [
    "产品质量问题",
    "物流延迟投诉",
    "发票开具申请",
    "安装调试请求",
    "价格异议",
    "售后服务评价",
    "退换货申请",
    "配件咨询",
    "维修进度查询",
]
CARRIERS = ["顺丰速运", "中通快递", "德邦物流", "京东物流", "中国邮政"]
# Share of the activities-and-documents total per model (the rest of the chain follows the sales funnel).
INTERACTION_SHARE = {
    "Activity": 0.70,
    "Opportunity": 0.10,
    "Quote": 0.07,
    "Contract": 0.045,
    "Order": 0.04,
    "Shipment": 0.025,
    "Payment": 0.02,
}
# Entries of the 360 bench customer per model, out of 1,000.
TIMELINE_SHARE = {
    "Activity": 0.70,
    "Opportunity": 0.08,
    "Quote": 0.06,
    "Contract": 0.04,
    "Order": 0.04,
    "Shipment": 0.02,
    "Payment": 0.02,
    "ServiceCase": 0.02,
}


def _array(values) -> str:
    return "ARRAY[" + ", ".join(_literal(v) for v in values) + "]"


def _choice(values, expr: str, seed: int) -> str:
    return f"({_array(values)})[1 + mod({h(expr, seed)}, {len(values)})]"


class InteractionLoader:
    """Activities, the sales chain (opportunity → quote → contract → order → shipment, payments)
    and service cases, with explicit column lists for the models interactions/models.py defines.

    Every row belongs to a customer drawn by hash; a child document belongs to its parent's
    customer, so the chain stays consistent. Numbers use the services' format and sequences.
    """

    def __init__(self, seeder: Seeder, found):
        self.seeder = seeder
        self.models = {m.__name__: m for m in found}
        self.year = timezone.localdate().year
        self.stats: dict[str, int] = {}

    def run(self, replace_existing: bool) -> dict[str, int]:
        s = self.seeder
        known = [name for name in (*INTERACTION_SHARE, "ServiceCase") if name in self.models]
        unknown = sorted(set(self.models) - set(known))
        if unknown:
            s.log.step(f"interactions: no loader for {unknown}; left empty")
        tables = [self.models[name]._meta.db_table for name in known]
        if replace_existing:
            _execute(f"TRUNCATE {', '.join(_q(t) for t in tables)} RESTART IDENTITY CASCADE")
        total = s.sizes.activities
        timeline = s.sizes.timeline if s.timeline_customer_id else 0
        # The customer copies (interactions/copies.py) are filled by the INSERT…SELECTs below from
        # the customer row they already join; the per-row triggers that would set them are off
        # during the load (inside this transaction: an error turns them back on) and checked after.
        copy_tables = [t for t in tables if _has_copies(t)]
        for table in copy_tables:
            _execute(f"ALTER TABLE {_q(table)} DISABLE TRIGGER USER")
        with DeferredIndexes(*tables, log=s.log):
            for name in known:
                model = self.models[name]
                wanted = s.sizes.cases if name == "ServiceCase" else int(total * INTERACTION_SHARE[name])
                # The 360 customer's entries count towards the requested sizes.
                t = min(int(timeline * TIMELINE_SHARE.get(name, 0)), wanted)
                n = wanted - t
                rows = getattr(self, f"_{name.lower()}")(model, n, t)
                reset_identity(model)
                self.stats[f"interactions_{name.lower()}"] = rows
                s.log.step(f"interactions: {rows} {model._meta.verbose_name_plural} (360 customer: {t})")
        for table in copy_tables:
            _execute(f"ALTER TABLE {_q(table)} ENABLE TRIGGER USER")
            stale = _scalar(
                f"SELECT count(*) FROM {_q(table)} r JOIN customers_customer c ON c.id = r.customer_id "
                "WHERE r.cust_org_unit_id IS DISTINCT FROM c.org_unit_id OR r.cust_owner_id IS DISTINCT FROM c.owner_id"
            )
            if stale:
                raise SeedError(f"interactions: {stale} rows of {table} with wrong customer copies")
        return self.stats

    # Rows come from generate_series(1, n) AS k, with the customer picked by hash of k. The 360
    # customer's rows are generated the same way with the customer fixed.

    @staticmethod
    def _copies(model) -> dict[str, str]:
        """The customer copies of a row whose source has the customer's `owner_id`, `org_unit_id`."""
        if not hasattr(model, "cust_org_unit_id"):
            return {}
        return {"cust_org_unit_id": "org_unit_id", "cust_owner_id": "owner_id"}

    def _customer_source(self, n: int, t: int, seed: int) -> str:
        s = self.seeder
        id0 = s.id0
        general = (
            f"SELECT k, c.id AS cid, c.owner_id, c.org_unit_id FROM generate_series(1, {n}) AS k "
            f"JOIN customers_customer c ON c.id = {id0} + 1 + mod({h('k', seed)}, {s.n_customers})"
        )
        if not t:
            return general
        special = (
            f"SELECT {n} + k, c.id, c.owner_id, c.org_unit_id FROM generate_series(1, {t}) AS k "
            f"JOIN customers_customer c ON c.id = {int(s.timeline_customer_id)}"
        )
        return f"{general} UNION ALL {special}"

    def _child_source(self, parent, n: int, t: int, seed: int) -> str:
        """Rows whose customer is their parent document's customer (parent picked by hash of k)."""
        s = self.seeder
        table = _q(parent._meta.db_table)
        bounds = f"(SELECT min(id) AS lo, max(id) - min(id) + 1 AS span FROM {table}) b"
        general = (
            f"SELECT k, p.id AS pid, p.customer_id AS cid, c.owner_id, c.org_unit_id "
            f"FROM generate_series(1, {n}) AS k CROSS JOIN "
            f"{bounds} JOIN {table} p ON p.id = b.lo + mod({h('k', seed)}, b.span) "
            f"JOIN customers_customer c ON c.id = p.customer_id"
        )
        if not t:
            return general
        special = (
            f"SELECT {n} + k, p.id, p.customer_id, c.owner_id, c.org_unit_id FROM generate_series(1, {t}) AS k JOIN "
            f"(SELECT id, customer_id, row_number() OVER (ORDER BY id) AS rn, count(*) OVER () AS cnt FROM {table} "
            f"WHERE customer_id = {int(s.timeline_customer_id)}) p ON p.rn = 1 + mod(k, p.cnt) "
            f"JOIN customers_customer c ON c.id = p.customer_id"
        )
        return f"{general} UNION ALL {special}"

    def _number(self, model, count: int) -> tuple[str, int]:
        """SQL for the document number of row k, continuing the services' sequence for this year."""
        from customers.models import NumberSequence

        seq, _ = NumberSequence.objects.select_for_update().get_or_create(name=f"{model.KIND}-{self.year}")
        start = seq.last_value
        seq.last_value += count
        seq.save(update_fields=["last_value"])
        value = f"({start} + k)::text"
        return f"'{model.NUMBER_PREFIX}{self.year}' || lpad({value}, greatest(6, length({value})), '0')", start

    @staticmethod
    def _when(seed: int, days: int = 730) -> str:
        return f"(now() - make_interval(secs => mod({h('k', seed)}, {days} * 86400)::double precision))"

    def _activity(self, model, n, t):
        kinds = list(ACTIVITY_SUBJECTS)
        subjects = [s for k in kinds for s in ACTIVITY_SUBJECTS[k]]
        when = self._when(201)
        # About 20% carry a follow-up between 30 days ago and 30 days ahead; past ones mostly done.
        follow = f"mod({h('k', 202)}, 100) < 20"
        follow_on = f"(current_date + (mod({h('k', 203)}, 61)::int - 30))"
        done = f"({follow} AND {follow_on} < current_date AND mod({h('k', 204)}, 100) < 70)"
        return insert_select(
            model,
            {
                "customer_id": "cid",
                "kind": _choice(kinds, "k", 205),
                "subject": _choice(subjects, "k", 206),
                "notes": f"CASE WHEN mod({h('k', 207)}, 3) = 0 THEN '客户表示有意向，下周再跟进。' ELSE '' END",
                "occurred_at": when,
                "user_id": "owner_id",
                "follow_up_on": f"CASE WHEN {follow} THEN {follow_on} END",
                "follow_up_done": done,
                "follow_up_done_at": f"CASE WHEN {done} THEN now() - interval '1 day' END",
                "created_by_id": "owner_id",
                "created_at": when,
                "updated_at": when,
                **self._copies(model),
            },
            f"FROM ({self._customer_source(n, t, 200)}) src",
        )

    def _opportunity(self, model, n, t):
        stages = ["lead", "qualified", "proposal", "negotiation", "won", "lost"]
        stage = _choice(stages, "k", 211)
        when = self._when(212)
        probability = (
            "CASE stage WHEN 'lead' THEN 10 WHEN 'qualified' THEN 25 WHEN 'proposal' THEN 50 "
            "WHEN 'negotiation' THEN 75 WHEN 'won' THEN 100 ELSE 0 END"
        )
        return insert_select(
            model,
            {
                "customer_id": "cid",
                "name": f"{_choice(PRODUCTS, 'k', 213)} || {_choice(PROJECTS, 'k', 214)}",
                "stage": "stage",
                "amount": f"(10000 + mod({h('k', 215)}, 5000000))::numeric(14, 2)",
                "currency": "'CNY'",
                "expected_close_on": f"current_date + (mod({h('k', 216)}, 180)::int - 60)",
                "probability": probability,
                "owner_id": "owner_id",
                "close_reason": "CASE WHEN stage = 'lost' THEN '价格因素' ELSE '' END",
                "closed_at": f"CASE WHEN stage IN ('won', 'lost') THEN {when} END",
                "created_by_id": "owner_id",
                "created_at": when,
                "updated_at": when,
                **self._copies(model),
            },
            f"FROM (SELECT src.*, {stage} AS stage FROM ({self._customer_source(n, t, 210)}) src) x",
        )

    def _document(self, model, parent, n, t, seed, extra: dict[str, str]):
        number, _start = self._number(model, n + t)
        when = self._when(seed + 1)
        given = {
            "number": number,
            "customer_id": "cid",
            "note": "''",
            "created_by_id": "owner_id",
            "created_at": when,
            "updated_at": when,
            **extra,
            **self._copies(model),
        }
        return insert_select(model, given, f"FROM ({self._child_source(parent, n, t, seed)}) src")

    def _quote(self, model, n, t):
        statuses = [s for s, _ in model.Status.choices]
        return self._document(
            model,
            self.models["Opportunity"],
            n,
            t,
            220,
            {
                "opportunity_id": "pid",
                "amount": f"(5000 + mod({h('k', 223)}, 3000000))::numeric(14, 2)",
                "currency": "'CNY'",
                "issued_on": f"current_date - mod({h('k', 224)}, 700)::int",
                "valid_until": f"current_date - mod({h('k', 224)}, 700)::int + 30",
                "status": _choice(statuses, "k", 225),
            },
        )

    def _contract(self, model, n, t):
        start = f"(current_date - mod({h('k', 233)}, 900)::int)"
        return self._document(
            model,
            self.models["Quote"],
            n,
            t,
            230,
            {
                "quote_id": "pid",
                "amount": f"(5000 + mod({h('k', 232)}, 3000000))::numeric(14, 2)",
                "currency": "'CNY'",
                "signed_on": start,
                "start_on": start,
                "end_on": f"{start} + 365",
                "status": _choice(["active", "active", "completed", "draft", "terminated"], "k", 234),
            },
        )

    def _order(self, model, n, t):
        return self._document(
            model,
            self.models["Contract"],
            n,
            t,
            240,
            {
                "contract_id": "pid",
                "amount": f"(1000 + mod({h('k', 242)}, 1000000))::numeric(14, 2)",
                "currency": "'CNY'",
                "ordered_on": f"current_date - mod({h('k', 243)}, 700)::int",
                "status": _choice(["open", "shipped", "completed", "completed", "cancelled"], "k", 244),
            },
        )

    def _shipment(self, model, n, t):
        shipped = f"(current_date - mod({h('k', 253)}, 700)::int)"
        return self._document(
            model,
            self.models["Order"],
            n,
            t,
            250,
            {
                "order_id": "pid",
                "shipped_on": shipped,
                "delivered_on": f"{shipped} + 3",
                "carrier": _choice(CARRIERS, "k", 254),
                "tracking_number": "'SF' || lpad(k::text, 12, '0')",
                "status": _choice(["prepared", "shipped", "delivered", "delivered"], "k", 255),
            },
        )

    def _payment(self, model, n, t):
        due = f"(current_date + (mod({h('k', 263)}, 400)::int - 300))"
        status = f"CASE WHEN {due} < current_date AND mod({h('k', 264)}, 100) < 80 THEN 'paid' ELSE 'open' END"
        return self._document(
            model,
            self.models["Contract"],
            n,
            t,
            260,
            {
                "contract_id": "pid",
                "order_id": "NULL",
                "amount": f"(1000 + mod({h('k', 262)}, 500000))::numeric(14, 2)",
                "currency": "'CNY'",
                "due_on": due,
                "paid_on": f"CASE WHEN {status} = 'paid' THEN {due} END",
                "status": status,
                "override_note": "''",
            },
        )

    def _servicecase(self, model, n, t):
        number, _start = self._number(model, n + t)
        received = self._when(271)
        statuses = [s for s, _ in model.Status.choices]
        status = f"CASE WHEN mod({h('k', 272)}, 100) < 70 THEN 'closed' ELSE {_choice(statuses, 'k', 273)} END"
        case_type = _choice(["complaint", "request", "request", "feedback"], "k", 274)
        return insert_select(
            model,
            {
                "number": number,
                "customer_id": "cid",
                "type": "type",
                "category": _choice([c for c, _ in model.Category.choices], "k", 275),
                "severity": f"CASE WHEN mod({h('k', 276)}, 10) = 0 THEN 'major' ELSE 'normal' END",
                "subject": _choice(CASE_SUBJECTS, "k", 277),
                "description": "'客户来电反映问题，已记录。'",
                "status": "CASE WHEN type <> 'complaint' AND status <> 'closed' THEN 'received' ELSE status END",
                "received_at": "received",
                "due_at": "received + interval '7 days'",
                "assessment": "''",
                "responsible_user_id": "NULL",
                "solution": "''",
                "result": "''",
                "resolution": "CASE WHEN status = 'closed' THEN '已解决' ELSE '' END",
                "satisfaction": f"CASE WHEN status = 'closed' THEN 1 + mod({h('k', 278)}, 5)::int END",
                "closed_at": "CASE WHEN status = 'closed' THEN received + interval '3 days' END",
                "reopen_count": "0",
                "created_by_id": "NULL",
                "created_at": "received",
                "updated_at": "received",
                **self._copies(model),
            },
            f"FROM (SELECT src.*, {received} AS received, {status} AS status, {case_type} AS type "
            f"FROM ({self._customer_source(n, t, 270)}) src) x",
        )


def _has_copies(table: str) -> bool:
    from interactions.copies import COPY_TABLES

    return table in COPY_TABLES


def load_interactions(seeder: Seeder, found, *, replace_existing: bool = False) -> dict[str, int]:
    return InteractionLoader(seeder, found).run(replace_existing)


def load_match_keys(seeder: Seeder, MatchKey, *, replace_existing: bool = False) -> dict[str, int]:
    """Exact keys the dedup engine would compute for phones, emails, credit codes and identity
    numbers, set-based ('p:', 'e:', 'c:', 'i:'). Name and address keys need the engine's Python
    normalisation (pinyin, legal forms) and are left to its rebuild job: see docs/performance.md."""
    table = _q(MatchKey._meta.db_table)
    if replace_existing:
        _execute(f"TRUNCATE {table}")
    sources = (
        "SELECT customer_id, 'p:' || normalized FROM customers_contactpoint "
        "WHERE kind IN ('mobile', 'landline') AND normalized <> ''",
        "SELECT customer_id, 'e:' || normalized FROM customers_contactpoint WHERE kind = 'email' AND normalized <> ''",
        "SELECT customer_id, 'c:' || credit_code FROM customers_companyprofile WHERE length(credit_code) >= 15",
        "SELECT customer_id, 'i:' || id_number FROM customers_personprofile WHERE length(id_number) >= 15",
    )
    with DeferredIndexes(MatchKey._meta.db_table, log=seeder.log):
        rows = insert_select(
            MatchKey,
            {"customer_id": "customer_id", "key": "key"},
            "FROM (SELECT DISTINCT customer_id, key FROM (" + " UNION ALL ".join(sources) + ") u(customer_id, key)) d",
        )
    reset_identity(MatchKey)
    seeder.log.step(f"match keys: {rows} phone/email/credit-code/identity keys")
    return {"match_keys": rows}


def _engine_keys_chunk(args) -> tuple[str, int]:
    """Worker: the dedup engine's keys of one chunk of customers, written as a COPY text file."""
    index, ids, directory = args
    from dedup.records import keys_of, records_load

    path = os.path.join(directory, f"keys_{index:05d}.tsv")
    rows = 0
    with open(path, "w", encoding="utf-8") as out:
        for pk, record in records_load(ids).items():
            for key in sorted(keys_of(record)):
                escaped = key.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
                out.write(f"{pk}\t{escaped}\n")
                rows += 1
    connection.close()
    return path, rows


def engine_match_keys(seeder: Seeder, MatchKey, chunk: int = 5000) -> dict[str, int]:
    """Every key the dedup engine computes (names in pinyin, addresses, typo neighbourhoods too),
    computed by dedup.records in one worker process per core and bulk-copied into the table.
    Must run outside a transaction (it forks); about 1 ms per customer per core."""
    from customers.models import Customer

    ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    jobs = [ids[i : i + chunk] for i in range(0, len(ids), chunk)]
    connection.close()  # the workers must not share the parent's socket
    workers = max(1, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="seed_scale_keys_") as directory:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            files = pool.map(_engine_keys_chunk, [(i, job, directory) for i, job in enumerate(jobs)], chunksize=1)
        seeder.log.step(f"match keys: engine computed {sum(n for _, n in files)} keys in {workers} processes")
        with transaction.atomic():
            seeder._session_settings()
            table = MatchKey._meta.db_table
            _execute(f"TRUNCATE {_q(table)}")
            with DeferredIndexes(table, log=seeder.log), connection.cursor() as cursor:
                raw = cursor.cursor
                for path, _rows in files:
                    with (
                        open(path, encoding="utf-8") as src,
                        raw.copy(f"COPY {_q(table)} (customer_id, {_q('key')}) FROM STDIN") as copy,
                    ):
                        while data := src.read(1 << 20):
                            copy.write(data)
            rows = _scalar(f"SELECT count(*) FROM {_q(table)}")
            reset_identity(MatchKey)
    seeder.log.step(f"match keys: {rows} engine keys loaded")
    return {"match_keys": rows}


def seed(sizes: Sizes, *, reset: bool = False, write=print) -> dict[str, int]:
    return Seeder(sizes, write=write).run(reset=reset)


def timeline_customer_id() -> int | None:
    """The customer the seeder gave ~1,000 timeline entries (tagged `scale-360`), for the 360 bench."""
    from customers.models import Customer

    return Customer.objects.filter(tags__name=TIMELINE_TAG).values_list("pk", flat=True).first()


def now():
    return timezone.now()
