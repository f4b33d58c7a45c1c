"""`manage.py find_duplicates` end to end on small generated files: encodings, headers, output."""

import csv
import io
import random

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from dedup.management.commands.find_duplicates import detect_encoding, find_duplicates, split_rows

HEADER_EN = ["external_id", "kind", "name", "phone", "mobile", "email", "address", "province", "city", "postcode"]
HEADER_EN += ["birth_date", "id_number", "credit_code"]
HEADER_ZH = ["编号", "类型", "名称", "电话", "手机", "邮箱", "地址", "省份", "城市", "邮编", "出生日期", "身份证号"]
HEADER_ZH += ["统一社会信用代码"]

# The known duplicate: a traditional-character, pinyin-free variant with a reformatted mobile and
# a province prefix on the address. The hard negative: a namesake in the same city with another
# phone and birth date, and a family member sharing the home phone and address.
KNOWN = [
    [
        "P-001",
        "person",
        "张伟",
        "",
        "13800138000",
        "",
        "北京市朝阳区建国路88号",
        "北京",
        "北京",
        "",
        "1985-03-12",
        "",
        "",
    ],
    ["P-002", "", "張偉", "", "+86 138 0013 8000", "", "朝阳区建国路88号", "", "北京市", "", "1985年3月12日", "", ""],
    ["P-003", "person", "张伟", "", "13900139000", "", "海淀区中关村大街1号", "北京", "北京", "", "1972-11-30", "", ""],
    ["P-004", "person", "张敏", "010-65529988", "", "", "北京市朝阳区建国路88号", "北京", "北京", "", "", "", ""],
    [
        "C-001",
        "company",
        "华为技术有限公司",
        "0755-28780808",
        "",
        "",
        "深圳市龙岗区坂田华为基地",
        "广东",
        "深圳",
        "",
        "",
        "",
        "",
    ],
    [
        "C-002",
        "公司",
        "華為技術（深圳）有限公司",
        "(0755)2878-0808",
        "",
        "",
        "坂田华为基地",
        "广东省",
        "深圳",
        "",
        "",
        "",
        "",
    ],
    [
        "C-003",
        "company",
        "中兴通讯股份有限公司",
        "0755-28780808",
        "",
        "",
        "深圳市龙岗区坂田华为基地",
        "广东",
        "深圳",
        "",
        "",
        "",
        "",
    ],
]
KNOWN_PAIRS = {("P-001", "P-002"), ("C-001", "C-002")}
HARD_NEGATIVES = {("P-001", "P-003"), ("P-002", "P-003"), ("P-001", "P-004"), ("C-001", "C-003"), ("C-002", "C-003")}


def filler(count: int, seed: int = 5) -> list[list[str]]:
    """Unrelated rows around the known ones, some with quoted commas and newlines."""
    rnd = random.Random(seed)
    rows = []
    for i in range(count):
        name = rnd.choice("赵钱孙李周吴郑") + rnd.choice("一二三四五六七八九") + rnd.choice("甲乙丙丁戊己庚辛")
        address = f"测试路{i}号,\n{rnd.randint(1, 30)}楼" if i % 7 == 0 else f"测试路{i}号"
        rows.append([f"F-{i:04d}", "person", name, "", f"137{i:08d}", "", address, "", "", "", "", "", ""])
    return rows


def write(path, header, rows, encoding):
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))


def read_output(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize(
    ("header", "encoding"),
    [
        pytest.param(HEADER_EN, "utf-8", id="utf-8"),
        pytest.param(HEADER_EN, "utf-8-sig", id="utf-8 with BOM"),
        pytest.param(HEADER_ZH, "gbk", id="GBK with Chinese headers"),
        pytest.param(HEADER_ZH, "gb18030", id="GB18030 with Chinese headers"),
    ],
)
def test_find_duplicates_finds_the_known_pair_and_not_the_hard_negatives(tmp_path, header, encoding):
    rows = filler(400) + KNOWN
    random.Random(1).shuffle(rows)
    source, out = tmp_path / "customers.csv", tmp_path / "pairs.csv"
    write(source, header, rows, encoding)

    call_command("find_duplicates", csv=str(source), out=str(out), workers=2, verbosity=0)

    lines = read_output(out)
    assert lines[0] == ["external_id_a", "external_id_b", "score"]
    pairs = [(a, b) for a, b, _ in lines[1:]]
    assert set(pairs) >= KNOWN_PAIRS
    assert not HARD_NEGATIVES & set(pairs)
    assert all(a < b for a, b in pairs)
    assert pairs == sorted(set(pairs))  # stable order, no line twice
    assert all(0 <= int(score) <= 100 for _, _, score in lines[1:])


def test_unknown_columns_are_ignored_and_missing_ones_are_empty(tmp_path):
    header = ["备注", "名称", "手机", "编号"]
    rows = [["vip", "张伟", "13800138000", "a"], ["", "Zhang Wei", "+8613800138000", "b"], ["x", "李四", "", "c"]]
    source = tmp_path / "short.csv"
    write(source, header, rows, "utf-8")
    assert [(a, b) for a, b, _ in find_duplicates(source, workers=1)] == [("a", "b")]


def test_rows_without_an_id_are_named_by_line(tmp_path):
    source = tmp_path / "noid.csv"
    write(source, ["name", "mobile"], [["张伟", "13800138000"], ["張偉", "13800138000"]], "utf-8")
    assert [(a, b) for a, b, _ in find_duplicates(source, workers=1)] == [("row2", "row3")]


def test_a_file_with_only_a_header_gives_only_a_header(tmp_path):
    source, out = tmp_path / "empty.csv", tmp_path / "pairs.csv"
    write(source, HEADER_EN, [], "utf-8-sig")
    call_command("find_duplicates", csv=str(source), out=str(out), verbosity=0)
    assert read_output(out) == [["external_id_a", "external_id_b", "score"]]


def test_nul_bytes_and_crlf_line_ends_do_not_stop_the_run(tmp_path):
    source = tmp_path / "dirty.csv"
    source.write_bytes("id,name,mobile\r\na,张伟\x00,13800138000\r\nb,張偉,138 0013 8000\r\n".encode())
    assert [(a, b) for a, b, _ in find_duplicates(source, workers=2)] == [("a", "b")]


def test_a_file_without_a_name_column_is_refused(tmp_path):
    source = tmp_path / "bad.csv"
    write(source, ["id", "phone"], [["1", "13800138000"]], "utf-8")
    with pytest.raises(CommandError):
        call_command("find_duplicates", csv=str(source), out=str(tmp_path / "o.csv"), verbosity=0)


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", ("utf-8", 0)), ("utf-8-sig", ("utf-8", 3)), ("gbk", ("gb18030", 0)), ("gb18030", ("gb18030", 0))],
)
def test_detect_encoding(encoding, expected):
    text = "编号,名称,地址\n" + "".join(f"{i},华为技术有限公司{i},深圳市南山区科技园{i}号\n" for i in range(200))
    assert detect_encoding(text.encode(encoding)) == expected


def test_split_rows_never_cuts_inside_a_quoted_field():
    rows = [[str(i), f"line one\nline two {i}", 'say "hi"'] for i in range(500)]
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    data = buffer.getvalue().encode()
    chunks = split_rows(data, 0, 37)
    assert len(chunks) > 10
    parsed = []
    for start, end in chunks:
        parsed += list(csv.reader(io.StringIO(data[start:end].decode(), newline="")))
    assert parsed == rows


def test_the_parallel_command_finds_exactly_the_pairs_of_the_plain_engine(tmp_path):
    """The command's fast path (chunked parsing, hashed keys in partitions, marshalled records,
    sorted pair arrays, per-process caches) against matching.find_pairs on the same rows: the same
    pairs with the same scores, on a generated corpus full of duplicates and look-alikes."""
    import sys
    from pathlib import Path

    from dedup import matching

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import dedup_corpus

    rows, _truth = dedup_corpus.build(3000, seed=7, profile="harsh")
    source = tmp_path / "corpus.csv"
    dedup_corpus.write_csv(source, rows)

    records = [
        matching.Record(r[0], r[1], r[2], (r[3], r[4]), (r[5],), r[6], r[7], r[8], r[9], r[10], r[11], r[12])
        for r in rows
    ]

    def keys_without_typos(prepared):
        return {f"{kind}:{value}" for kind, value in matching.keyed_values(prepared, typo_keys=False)}

    expected = sorted(
        (a, b, match.score)
        for a, b, match in matching.find_pairs(records, threshold=matching.LIKELY, keys=keys_without_typos)
    )
    assert len(expected) > 100
    assert find_duplicates(source, workers=2) == expected
    assert find_duplicates(source, workers=1) == expected
