"""The matching engine: keys, scores with their evidence, and batch pairing without all pairs."""

import pytest

from dedup import matching
from dedup.matching import (
    COMPANY,
    LIKELY,
    PERSON,
    POSSIBLE,
    Evidence,
    Match,
    Record,
    explain_text,
    find_pairs,
    match_keys,
    prepare,
    score_pair,
)


def company(id, name, **fields):  # noqa: A002 - mirrors Record.id
    return Record(id, "company", name, **fields)


def person(id, name, **fields):  # noqa: A002
    return Record(id, "person", name, **fields)


# --- prepare ------------------------------------------------------------------------------------


def test_prepare_infers_the_kind_when_the_row_does_not_say():
    assert prepare(Record(1, "", "华为技术有限公司")).kind == COMPANY
    assert prepare(Record(2, "", "张伟")).kind == PERSON
    assert prepare(Record(3, "公司", "张伟")).kind == COMPANY
    assert prepare(Record(4, "个人", "Acme")).kind == PERSON
    assert prepare(Record(5, "", "Acme", credit_code="91440300MA5EXXXXX1")).kind == COMPANY
    assert prepare(Record(6, "", "Acme", id_number="11010519491231002X")).kind == PERSON


def test_prepare_takes_birth_date_from_identity_number_and_city_from_address():
    p = prepare(person(1, "张伟", id_number="11010519491231002x", address="广东省深圳市南山区科技园"))
    assert p.birth_date == "1949-12-31"
    assert p.id_number == "11010519491231002X"
    assert (p.province, p.city, p.address) == ("广东", "深圳", "南山科技园")


def test_prepare_splits_and_dedupes_phones():
    p = prepare(person(1, "张伟", phones=("138 0013 8000 / 010-65529988", "+86 13800138000", "")))
    assert p.phones == ("+8613800138000", "+861065529988")


# --- keys ---------------------------------------------------------------------------------------


def test_company_keys():
    keys = match_keys(
        company(
            1,
            "华为技术有限公司",
            phones=("0755-28780808",),
            emails=("Info@Huawei.com",),
            city="深圳",
            address="深圳市龙岗区坂田华为基地",
            credit_code="91440300192203821C",
        )
    )
    assert {
        "c:91440300192203821C",
        "p:+8675528780808",
        "e:info@huawei.com",
        "n:huaweijishu",
        "nc:huaweijishu|深圳",
        "a:深圳|龙岗坂田华为基地",
        "nd:华为技术",
        "nd:华为术",
    } <= keys


def test_traditional_and_simplified_company_names_share_a_key():
    assert "n:huaweijishu" in match_keys(company(1, "華為技術(深圳)有限公司"))


def test_person_keys_meet_across_script_and_order():
    keys = [
        match_keys(person(i, name, city="北京")) for i, name in enumerate(["张伟", "張偉", "Zhang Wei", "WEI Zhang"])
    ]
    for k in keys:
        assert {"n:wei zhang", "nc:wei zhang|北京"} <= k


def test_person_keys_include_name_and_birth_date():
    assert "nb:wei zhang|1985-03-12" in match_keys(person(1, "张伟", birth_date="1985年3月12日"))


def test_a_bare_surname_gives_no_name_key():
    assert not any(k.startswith("n:") for k in match_keys(person(1, "张先生")))


# --- scores: the same customer ------------------------------------------------------------------

SAME = [
    pytest.param(
        person(1, "张伟", phones=("13800138000",), city="北京"),
        person(2, "Zhang Wei", phones=("+86 138-0013-8000",), city="Beijing"),
        id="pinyin name, same mobile in another format",
    ),
    pytest.param(
        person(1, "张伟", phones=("13800138000",), city="北京"),
        person(2, "張偉", phones=("13800138000",), city="上海"),
        id="traditional name, same mobile, moved",
    ),
    pytest.param(
        person(1, "王芳", id_number="11010519491231002X"),
        person(2, "王芳", id_number="11010519491231002x", phones=("13900139000",)),
        id="same identity number",
    ),
    pytest.param(
        person(1, "Jonathan Smith", emails=("jon.smith@gmail.com",)),
        person(2, "Smith, Jonathon", emails=("JON.SMITH@gmail.com",)),
        id="western name reordered with a typo, same email",
    ),
    pytest.param(
        person(1, "李娜", birth_date="1990-05-01", city="杭州", address="西湖区文三路100号"),
        person(2, "李娜", birth_date="1990/5/1", city="杭州市", address="浙江省杭州市西湖区文三路100号"),
        id="name, birth date, city and address",
    ),
    pytest.param(
        company(1, "华为技术有限公司", phones=("0755-28780808",), city="深圳"),
        company(2, "華為技術(深圳)有限公司", phones=("(0755)2878-0808",)),
        id="traditional company name, same switchboard",
    ),
    pytest.param(
        company(1, "华为技术有限公司", phones=("0755-28780808",), city="深圳"),
        company(2, "华为枝术有限公司", phones=("0755 2878 0808",), city="深圳"),
        id="company name typo, same phone and city",
    ),
    pytest.param(
        company(1, "深圳市腾讯计算机系统有限公司", credit_code="91440300708461136T"),
        company(2, "腾讯计算机系统", credit_code="91440300708461136t"),
        id="same credit code",
    ),
    pytest.param(
        person(1, "肖成", phones=("13800138000",), city="广州"),
        person(2, "肖晨", phones=("13800138000",), city="广州"),
        id="fuzzy-pinyin slip in the given name (cheng / chen), same mobile",
    ),
    pytest.param(
        person(1, "覃秋春", phones=("13800138000",)),
        person(2, "TAN Qiuchun", phones=("13800138000",)),
        id="polyphonic surname romanised with its everyday reading",
    ),
    pytest.param(
        person(1, "Michael Lee", emails=("mlee@example.com",)),
        person(2, "Mike Lee", emails=("mlee@example.com",)),
        id="nickname",
    ),
    pytest.param(
        company(1, "郑州市云卓化工有限公司", emails=("hr@yunzhuo.com",), city="郑州", address="金水区花园路100号"),
        company(
            2,
            "Zhengzhou Yunzhuo Chemical Co., Ltd.",
            emails=("hr@yunzhuo.com",),
            city="郑州",
            address="金水区花园路100号",
        ),
        id="the English name of a Chinese company",
    ),
    pytest.param(
        company(1, "Acme Trading Co., Ltd.", address="88 Harbour Road, Suite 1200", city="Shanghai"),
        company(2, "ACME TRADING LIMITED", address="88 Harbour Rd Suite 1200", city="上海"),
        id="western company: legal form and address variants",
    ),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_the_same_customer_scores_likely(a, b):
    match = score_pair(a, b)
    assert match.score >= LIKELY, explain_text(match)
    assert match.level == "likely"
    assert score_pair(b, a).score == match.score


# --- scores: different customers that look alike -----------------------------------------------

DIFFERENT = [
    pytest.param(
        person(1, "王伟", city="北京", birth_date="1980-01-01"),
        person(2, "王伟", city="上海", birth_date="1975-06-30"),
        id="namesakes in different cities",
    ),
    pytest.param(
        person(1, "王伟", city="北京", phones=("13800138000",)),
        person(2, "王伟", city="北京", phones=("13900139000",)),
        id="namesakes in one city",
    ),
    pytest.param(
        person(1, "张伟", phones=("010-65529988",), address="北京市朝阳区建国路88号3单元501"),
        person(2, "张敏", phones=("010-65529988",), address="北京市朝阳区建国路88号3单元501"),
        id="family sharing home phone and address",
    ),
    pytest.param(
        person(1, "张伟", phones=("13800138000",), birth_date="1960-02-02"),
        person(2, "张伟", phones=("13800138000",), birth_date="1988-09-09"),
        id="father and son, same name and phone, different birth dates",
    ),
    pytest.param(
        person(1, "王芳", id_number="11010519491231002X", phones=("13800138000",)),
        person(2, "王芳", id_number="110105198001010016", phones=("13800138000",)),
        id="different identity numbers",
    ),
    pytest.param(
        company(1, "华为技术有限公司", phones=("0755-28780808",), city="深圳", address="福田区深南大道100号"),
        company(2, "中兴通讯股份有限公司", phones=("0755-28780808",), city="深圳", address="福田区深南大道100号"),
        id="shared switchboard and building",
    ),
    pytest.param(
        company(1, "华为技术有限公司", credit_code="91440300192203821C", phones=("0755-28780808",)),
        company(2, "华为技术有限公司北京分公司", credit_code="91110108MA01XXXX2K", phones=("0755-28780808",)),
        id="branch with its own credit code",
    ),
    pytest.param(
        company(1, "华为技术有限公司", city="深圳"),
        company(2, "华为终端有限公司", city="深圳", phones=("0755-28780808",)),
        id="sibling company",
    ),
    pytest.param(
        person(1, "卢燕", phones=("010-59901861",), emails=("luyan@126.com",), address="和平路942号", city="北京"),
        person(2, "卢芳", phones=("010-59901861",), emails=("luyan@126.com",), address="和平路942号", city="北京"),
        id="family sharing phone, mailbox and address",
    ),
    pytest.param(
        person(1, "Michael Jones", emails=("mj@163.com",), address="292 Main Street", city="重庆"),
        person(2, "Richard Jones", emails=("mj@163.com",), address="292 Main Street", city="重庆"),
        id="western family sharing a mailbox",
    ),
    pytest.param(
        company(1, "明图汇电子有限公司", phones=("0512-72811668",), city="苏州"),
        company(2, "明图汇电气有限公司", phones=("0512-72811668",), city="苏州"),
        id="sibling companies: one brand, two lines of business, one switchboard",
    ),
    pytest.param(
        company(1, "越恒纺织有限公司", phones=("010-79318489",), address="中山路203号", city="北京"),
        company(2, "越聚纺织集团有限公司", phones=("010-79318489",), address="中山路203号", city="北京"),
        id="same trade, brands half alike, shared reception",
    ),
    pytest.param(
        company(1, "大众餐饮管理有限公司", city="北京"),
        company(2, "大众餐饮管理有限公司", city="成都"),
        id="same name registered in two cities",
    ),
    pytest.param(
        person(1, "张伟", phones=("13800138000",)),
        company(2, "张伟", phones=("13800138000",)),
        id="a person is never a company",
    ),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_customers_that_look_alike_are_not_likely(a, b):
    match = score_pair(a, b)
    assert match.score < LIKELY, explain_text(match)


def test_conflicts_are_explained_and_lower_the_score():
    same_phone = person(1, "张伟", phones=("13800138000",))
    with_birth = person(2, "张伟", phones=("13800138000",), birth_date="1988-09-09")
    other_birth = person(3, "张伟", phones=("13800138000",), birth_date="1960-02-02")
    plain = score_pair(same_phone, with_birth)
    conflicting = score_pair(with_birth, other_birth)
    assert conflicting.score < plain.score
    assert [e.field for e in conflicting.conflicts] == ["birth_date"]
    assert conflicting.conflicts[0].points < 0


def test_evidence_lists_every_compared_field_with_points_that_add_up():
    a = company(1, "华为技术有限公司", phones=("0755-28780808",), city="深圳", postcode="518129")
    b = company(2, "華為技術有限公司", phones=("0755-28780808",), city="深圳市", postcode="518129")
    match = score_pair(a, b)
    fields = {e.field: e.agreement for e in match.evidence}
    assert fields == {"name": "pinyin", "contact": "exact", "city": "exact", "postcode": "exact"}
    assert match.score == min(100, sum(e.points for e in match.evidence))


def test_a_shared_line_counts_little():
    a = company(1, "华为技术有限公司", phones=("0755-28780808",))
    b = company(2, "华为技术股份有限公司", phones=("0755-28780808",))
    full = score_pair(a, b)
    shared = score_pair(a, b, common_keys={"p:+8675528780808"})
    assert shared.score < full.score
    assert ("contact", "shared") in {(e.field, e.agreement) for e in shared.evidence}


def test_explain_text_is_readable_and_translatable():
    match = Match(62, (Evidence("name", "fuzzy", 29, 0.9), Evidence("birth_date", "conflict", -40)))
    assert explain_text(match) == ["name: similar (90%) +29", "birth date: different -40"]
    chinese = {"birth date": "出生日期", "%(field)s: different": "%(field)s：不同"}
    assert explain_text(match, translate=lambda s: chinese.get(s, s))[1] == "出生日期：不同 -40"


def test_levels_follow_the_thresholds():
    assert Match(LIKELY, ()).level == "likely"
    assert Match(POSSIBLE, ()).level == "possible"
    assert Match(POSSIBLE - 1, ()).level == "unlikely"


# --- batches ------------------------------------------------------------------------------------


def test_find_pairs_finds_duplicates_and_orders_ids():
    records = [
        person("b7", "张伟", phones=("13800138000",), city="北京"),
        person("a3", "Zhang Wei", phones=("+8613800138000",), city="北京"),
        person("c1", "王伟", city="上海"),
        company("d1", "华为技术有限公司", phones=("0755-28780808",)),
        company("d2", "華為技術有限公司", phones=("(0755)28780808",)),
    ]
    found = {(a, b) for a, b, _ in find_pairs(records, threshold=LIKELY)}
    assert found == {("a3", "b7"), ("d1", "d2")}


def test_a_huge_block_is_skipped_but_its_members_still_meet_through_other_keys(monkeypatch):
    """3,000 namesakes in one city must not become 4.5 million comparisons."""
    records = [person(i, "王伟", city="北京", phones=(f"139{i:08d}",)) for i in range(3000)]
    records.append(person("dup", "王伟", city="北京", phones=("13900000007",)))
    calls = []
    real_score = matching.score_pair
    monkeypatch.setattr(matching, "score_pair", lambda a, b, **kw: calls.append(1) or real_score(a, b, **kw))
    found = [(a, b) for a, b, _ in find_pairs(records, threshold=LIKELY)]
    assert found == [(7, "dup")]
    assert len(calls) < 10


def test_find_pairs_treats_a_phone_shared_by_many_as_a_shared_line():
    switchboard = "010-65529988"
    records = [company(i, f"公司{i}号贸易有限公司", phones=(switchboard,)) for i in range(30)]
    records += [company("x1", "北辰贸易有限公司", phones=(switchboard,)), company("x2", "北辰贸易有限公司")]
    found = {(a, b): m for a, b, m in find_pairs(records, threshold=0)}
    assert ("x1", "x2") in found
    assert all(m.score < LIKELY for m in found.values())
