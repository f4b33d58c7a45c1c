"""Normalisation tables: what people type → the key both sides of a comparison agree on."""

import random
import re

import phonenumbers
import pytest

from dedup import normalize as nz


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ　１２３", "ABC 123"),
        ("  a   b  ", "a b"),
        ("（北京）", "(北京)"),
        (None, ""),
        ("", ""),
    ],
)
def test_nfkc_folds_full_width_and_spaces(raw, expected):
    assert nz.nfkc(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("+86-13800138000", "+8613800138000"),
        ("0086 138 0013 8000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("１３８００１３８０００", "+8613800138000"),
        ("010-65529988", "+861065529988"),
        ("(010) 6552 9988", "+861065529988"),
        ("(0755)8888-1234", "+8675588881234"),
        ("0755-88881234", "+8675588881234"),
        ("+86 755 8888 1234", "+8675588881234"),
        ("021 5555 6666", "+862155556666"),
        ("0512-6666888", "+865126666888"),
        ("010-65529988-8021", "+861065529988"),
        ("010-65529988转8021", "+861065529988"),
        ("0755 8888 1234 ext 12", "+8675588881234"),
        ("400-810-8888", "+864008108888"),
        ("+1 650 253 0000", "+16502530000"),
        ("+44 20 7946 0958", "+442079460958"),
        ("not a phone", ""),
        ("123", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_phone_gives_e164(raw, expected):
    assert nz.normalize_phone(raw) == expected


def _phonenumbers_e164(raw: str) -> str:
    """The slow path alone, as normalize_phone did before it had the fast path."""
    compact = re.sub(r"^00(?=[1-9])", "+", raw.replace(" ", ""))
    try:
        number = phonenumbers.parse(compact, "CN")
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def test_phone_fast_path_agrees_with_phonenumbers():
    """The regex fast path for Chinese numbers must give exactly what phonenumbers gives."""
    rnd = random.Random(7)
    areas = ["10", "20", "21", "22", "23", "24", "25", "27", "28", "29", "755", "571", "512", "411", "769", "851"]
    samples = []
    for _ in range(3000):
        if rnd.random() < 0.5:
            number = "1" + rnd.choice("3456789") + "".join(rnd.choices("0123456789", k=9))
            samples += [
                number,
                f"+86 {number}",
                f"0086{number}",
                f"86{number}",
                f"{number[:3]}-{number[3:7]}-{number[7:]}",
            ]
        else:
            local = rnd.choice("2345678") + "".join(rnd.choices("0123456789", k=rnd.choice([6, 7])))
            area = rnd.choice(areas)
            samples += [f"0{area}-{local}", f"(0{area}){local}", f"+86 {area} {local}", f"0086 {area} {local}"]
    checked = 0
    for raw in samples:
        fast = nz._cn_fast_e164(raw)
        if fast is not None:
            assert fast == _phonenumbers_e164(raw), raw
            checked += 1
    assert checked > len(samples) * 0.9


@pytest.mark.parametrize(
    ("e164", "mobile"),
    [("+8613800138000", True), ("+861065529988", False), ("+16502530000", False)],
)
def test_is_mobile_e164(e164, mobile):
    assert nz.is_mobile_e164(e164) is mobile


def test_split_phones_reads_several_numbers_in_one_cell():
    assert nz.split_phones("13800138000 / 010-65529988；13900139000") == [
        "13800138000 ",
        " 010-65529988",
        "13900139000",
    ]
    assert nz.split_phones("") == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Zhang.Wei@Example.COM ", "zhang.wei@example.com"),
        ("ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", "zhang@example.com"),
        ("not an email", ""),
        ("a@b", ""),
    ],
)
def test_normalize_email(raw, expected):
    assert nz.normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("华为技术有限公司", "华为技术"),
        ("华为技术有限责任公司", "华为技术"),
        ("华为技术股份有限公司", "华为技术"),
        ("華為技術(深圳)有限公司", "華為技術"),
        ("华为技术（深圳）有限公司", "华为技术"),
        ("深圳市华为技术有限公司", "华为技术"),
        ("深圳华为技术有限公司", "华为技术"),
        ("广东省深圳市华强电子厂", "华强电子"),
        ("华为技术有限公司北京分公司", "华为技术"),
        ("华为投资控股有限公司", "华为投资"),
        ("阿里巴巴集团", "阿里巴巴"),
        ("中国移动通信集团有限公司", "移动通信"),
        # A core that would be only an industry word keeps its region.
        ("上海银行股份有限公司", "上海银行"),
        ("中国银行", "中国银行"),
        ("北京科技有限公司", "北京科技"),
        ("Acme Trading Co., Ltd.", "acme trading"),
        ("ACME TRADING LIMITED", "acme trading"),
        ("Acme Trading (China) Co., Ltd.", "acme trading"),
        ("Siemens (China) GmbH", "siemens"),
        ("The Boston Consulting Group, Inc.", "boston consulting"),
        ("Johnson & Johnson", "johnson and johnson"),
        ("IBM(中国)有限公司", "ibm"),
        ("IBM China Co., Ltd.", "ibm"),
        ("公司", "公司"),
        ("", ""),
    ],
)
def test_company_core_name(raw, expected):
    assert nz.company_core_name(raw) == expected


def test_company_name_key_meets_traditional_and_simplified():
    simplified = nz.company_name_key(nz.company_core_name("华为技术有限公司"))
    traditional = nz.company_name_key(nz.company_core_name("華為技術有限公司"))
    assert simplified == traditional == "huaweijishu"
    assert nz.company_name_key("acme trading") == "acmetrading"


@pytest.mark.parametrize(
    ("raw", "normalized", "parts"),
    [
        ("张伟", "张伟", (("zhang", "wei"),)),
        ("張偉", "張偉", (("zhang", "wei"),)),
        ("张 伟", "张伟", (("zhang", "wei"),)),
        ("Zhang Wei", "zhang wei", (("wei", "zhang"),)),
        ("Wei Zhang", "wei zhang", (("wei", "zhang"),)),
        ("ZHANG, Wei", "zhang wei", (("wei", "zhang"),)),
        ("欧阳娜娜", "欧阳娜娜", (("ouyang", "nana"),)),
        # A surname read differently from the word: both readings, the surname's first.
        ("曾国藩", "曾国藩", (("zeng", "guofan"), ("ceng", "guofan"))),
        ("单雄信", "单雄信", (("shan", "xiongxin"), ("dan", "xiongxin"))),
        ("覃秋春", "覃秋春", (("qin", "qiuchun"), ("tan", "qiuchun"))),
        ("吕布", "吕布", (("lu", "bu"),)),
        ("Lü Bu", "lu bu", (("bu", "lu"),)),
        ("John A. Smith", "john smith", (("john", "smith"),)),
        ("Mr. John Smith", "john smith", (("john", "smith"),)),
        ("Mike Lee", "michael lee", (("lee", "michael"),)),
        ("Wei Ming Zhang", "wei ming zhang", (("mingzhang", "wei"), ("weiming", "zhang"))),
        ("张先生", "张", (("zhang", ""),)),
    ],
)
def test_person_name_normalised_and_read_as_pinyin(raw, normalized, parts):
    assert nz.normalize_person_name(raw) == normalized
    assert nz.person_name_parts(normalized) == parts


def test_person_name_keys_meet_across_scripts_and_order():
    keys = {tuple(nz.person_name_keys(nz.normalize_person_name(n))) for n in ("张伟", "張偉", "Zhang Wei", "Wei Zhang")}
    assert keys == {("wei zhang",)}
    assert nz.person_name_keys("张") == []  # a bare surname is no key


def test_pypinyin_reads_traditional_characters():
    assert nz.to_pinyin("張偉華為") == ["zhang", "wei", "hua", "wei"]


@pytest.mark.parametrize(
    ("raw", "person"),
    [
        ("张伟", True),
        ("欧阳娜娜", True),
        ("曾国藩", True),
        ("John Smith", True),
        ("华为技术有限公司", False),
        ("腾讯", False),
        ("Acme Ltd", False),
        ("北京大学", False),
    ],
)
def test_looks_like_person_name(raw, person):
    assert nz.looks_like_person_name(raw) is person


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("广东省", "广东"),
        ("广东", "广东"),
        ("深圳市", "深圳"),
        ("内蒙古自治区", "内蒙古"),
        ("广西壮族自治区", "广西"),
        ("廣州", "广州"),
        ("Shenzhen", "深圳"),
        ("Shenzhen City", "深圳"),
        ("BEIJING", "北京"),
        ("Springfield", "springfield"),
        ("", ""),
    ],
)
def test_normalize_place(raw, expected):
    assert nz.normalize_place(raw) == expected


@pytest.mark.parametrize(
    ("raw", "province", "city", "rest"),
    [
        ("广东省深圳市南山区科技园", "广东", "深圳", "南山区科技园"),
        ("广东深圳南山区科技园", "广东", "深圳", "南山区科技园"),
        ("深圳市南山区科技园", "", "深圳", "南山区科技园"),
        ("北京市朝阳区建国路88号", "北京", "北京", "朝阳区建国路88号"),
        ("内蒙古自治区包头市昆区", "内蒙古", "包头", "昆区"),
        # Without a suffix or a known field, a leading place word is a street name.
        ("山东路100号", "", "", "山东路100号"),
    ],
)
def test_split_address(raw, province, city, rest):
    assert nz.split_address(raw) == (province, city, rest)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("广东省深圳市南山区深南大道10000号", "深圳市南山深南大道10000"),
        ("深圳南山区深南大道１００００号", "广东深圳市南山区深南大道10000号"),
        ("12 Baker Street, London", "12 baker st london"),
    ],
)
def test_normalize_address_meets(a, b):
    assert nz.normalize_address(a) == nz.normalize_address(b)


def test_normalize_address_uses_the_record_city():
    assert nz.normalize_address("深圳南山区科技园", city="深圳市") == "南山科技园"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1985-03-12", "1985-03-12"),
        ("1985/3/12", "1985-03-12"),
        ("1985.3.12", "1985-03-12"),
        ("19850312", "1985-03-12"),
        ("1985年3月12日", "1985-03-12"),
        ("1985-03-12 00:00:00", "1985-03-12"),
        ("12/03/1985", "1985-03-12"),
        ("03/25/1985", "1985-03-25"),
        ("1985-02-30", ""),
        ("unknown", ""),
        ("", ""),
    ],
)
def test_normalize_birth_date(raw, expected):
    assert nz.normalize_birth_date(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002x", "11010519491231002X"),
        ("110105 19491231 002X", "11010519491231002X"),
        ("110105491231002", "11010519491231002X"),  # 15 digits widened, check character added
        ("000000000000000000", ""),
        ("", ""),
    ],
)
def test_normalize_id_number(raw, expected):
    assert nz.normalize_id_number(raw) == expected


def test_identity_number_check_and_birth_date():
    assert nz.is_valid_id_number("11010519491231002X")
    assert not nz.is_valid_id_number("110105194912310021")
    assert nz.birth_date_from_id("11010519491231002X") == "1949-12-31"
    assert nz.birth_date_from_id("110105194913310021") == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("91440300mA5exxxxx1", "91440300MA5EXXXXX1"),
        ("9144 0300 MA5E XXXX X1", "91440300MA5EXXXXX1"),
        ("111111111111111111", ""),
    ],
)
def test_normalize_credit_code(raw, expected):
    assert nz.normalize_credit_code(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [("518 000", "518000"), ("sw1a 1aa", "SW1A1AA"), ("", "")])
def test_normalize_postcode(raw, expected):
    assert nz.normalize_postcode(raw) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("13800138000", True), ("010-6552 9988", True), ("张伟", False), ("12345", False)],
)
def test_looks_like_phone_is_unchanged_for_search(text, expected):
    assert nz.looks_like_phone(text) is expected
