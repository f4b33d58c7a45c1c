"""Builders of import files for the tests, the bench and the browser test (no test framework needed)."""

from __future__ import annotations

import csv
import datetime
import io
import random

HEADERS_ZH = [
    "外部编号",
    "类型",
    "名称",
    "手机",
    "电话",
    "邮箱",
    "地址",
    "省份",
    "城市",
    "出生日期",
    "身份证号",
    "统一社会信用代码",
    "标签",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉玲建国峰文斌波宇浩凯健俊帆晨阳欣怡佳琪梓涵子轩浩然一诺雨桐"
PROVINCES = [("广东", "深圳"), ("广东", "广州"), ("北京", "北京"), ("浙江", "杭州"), ("上海", "上海"), ("四川", "成都")]
CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def credit_code(n: int) -> str:
    from customers.validators import credit_code_check_char

    body = f"91440300{n:09d}"[:17]
    body = "".join(c if c in CREDIT_CHARS else "0" for c in body)
    return body + credit_code_check_char(body)


def id_number(n: int, birth: str) -> str:
    """Unique for n < 18,000,000 together with good_rows' birth dates."""
    from dedup.normalize import id_number_check_char

    body = f"440305{birth.replace('-', '')}{n // 18000 % 1000:03d}"
    return body + id_number_check_char(body)


def good_rows(count: int, *, seed: int = 7, start: int = 0) -> list[list[str]]:
    """Distinct, valid rows (persons and companies) in HEADERS_ZH order; no two are duplicates.

    `start + count` must stay below 10**8 (phone numbers have eight free digits).
    """
    rng = random.Random(seed)
    rows = []
    for i in range(start, start + count):
        province, city = PROVINCES[i % len(PROVINCES)]
        if i % 2:
            birth = (datetime.date(1950, 1, 1) + datetime.timedelta(days=i % 18000)).isoformat()
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN) + f"{i}"
            rows.append(
                [
                    f"X{i}",
                    "个人",
                    name,
                    f"139{i:08d}",
                    "",
                    f"p{i}@example.cn",
                    f"{province}{city}中山路{i}号",
                    province,
                    city,
                    birth,
                    id_number(i, birth),
                    "",
                    "导入;测试",
                ]
            )
        else:
            name = f"{city}市{rng.choice(SURNAMES)}{rng.choice(GIVEN)}{i}号科技有限公司"
            rows.append(
                [
                    f"X{i}",
                    "公司",
                    name,
                    "",
                    f"0755-{20000000 + i % 70000000}",
                    f"info{i}@corp{i}.cn",
                    f"{province}{city}科技园{i}栋",
                    province,
                    city,
                    "",
                    "",
                    credit_code(i),
                    "客户",
                ]
            )
    return rows


def bad_rows(count: int, *, start: int = 10_000_000) -> list[tuple[list[str], str]]:
    """Malformed rows of many kinds (each with what is wrong), in HEADERS_ZH order."""
    kinds = [
        lambda i: ([f"B{i}", "个人", "", f"139{i:08d}", "", "", "", "", "", "", "", "", ""], "empty name"),
        lambda i: ([f"B{i}", "个人", f"坏手机{i}", "12345", "", "", "", "", "", "", "", "", ""], "bad mobile"),
        lambda i: ([f"B{i}", "个人", f"坏邮箱{i}", "", "", "not-an-email", "", "", "", "", "", "", ""], "bad email"),
        lambda i: ([f"B{i}", "个人", f"坏日期{i}", "", "", "", "", "", "", "2024-13-45", "", "", ""], "bad date"),
        lambda i: (
            [f"B{i}", "公司", f"坏代码{i}有限公司", "", "", "", "", "", "", "", "", "91440300ABCDEFGH12", ""],
            "bad credit code",
        ),
        lambda i: ([f"B{i}", "火星人", f"坏类型{i}", "", "", "", "", "", "", "", "", "", ""], "bad kind"),
        lambda i: ([f"B{i}", "个人", f"科学计数{i}", "1.38E+10", "", "", "", "", "", "", "", "", ""], "lost digits"),
        lambda i: ([f"B{i}", "个人", f"掩码{i}", "138****5678", "", "", "", "", "", "", "", "", ""], "masked"),
        lambda i: (
            [f"B{i}", "公司", f"公司生日{i}有限公司", "", "", "", "", "", "", "1990-01-01", "", "", ""],
            "company birth",
        ),
        lambda i: ([f"B{i}", "个人", "名" * 201, "", "", "", "", "", "", "", "", "", ""], "too long"),
    ]
    return [kinds[k % len(kinds)](start + k) for k in range(count)]


def csv_bytes(headers: list[str], rows: list[list[str]], *, encoding: str = "utf-8", bom: bool = False) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def xlsx_bytes(headers: list[str], rows: list[list]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
