"""Normalisation: pure functions that turn what people type into comparable keys.

Full/half width (NFKC), spaces and punctuation, case; phones to E.164 with phonenumbers
(default region CN); emails lowercased; company names reduced to a core name without legal forms
and region words; person names also as pinyin; addresses without province/city prefixes and
administrative suffixes; identity numbers and credit codes canonicalised. Used by search, by the
on-entry duplicate check, the import and the batch jobs, so one value always has one key.

Every function is pure, cheap and safe on any input (None, '', garbage): the duplicate finder calls
them millions of times, so the hot ones avoid regex alternations of hundreds of words and cache
what repeats (phones shared by a switchboard, city names).
"""

from __future__ import annotations

import datetime
import functools
import re
import unicodedata

import phonenumbers

DEFAULT_REGION = "CN"


def _words(text: str) -> tuple[str, ...]:
    """Word lists are written as one string: easier to read and extend than a list literal."""
    return tuple(text.split())


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NOT_LOWER = re.compile(r"[^a-z]+")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_LATIN_WORD = re.compile(r"[a-z0-9]+")
_LETTERS = re.compile(r"[a-z]+")
_CODE_SEPARATORS = re.compile(r"[\s\-]+")


def nfkc(text: str | None) -> str:
    """Full-width to half-width and compatibility forms folded; trimmed; inner spaces collapsed."""
    if not text:
        return ""
    text = str(text)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def normalize_name(text: str | None) -> str:
    """Name key for prefix search: NFKC, case-folded, single spaces."""
    return nfkc(text).casefold()


# --- Phones -------------------------------------------------------------------------------------

# An extension after the main number: "转 8021", "ext. 12", "x12", "#12", "分机 12".
_PHONE_EXTENSION = re.compile(r"(?:转|分机|ext\.?|extension|x|#)\s*\d{1,6}\s*$", re.IGNORECASE)
# A trailing "-8021" after a complete landline: only stripped when the whole does not parse.
_MAYBE_EXTENSION = re.compile(r"[转分#xXtT]")
_PHONE_DASH_EXTENSION = re.compile(r"[-‐–—]\s*\d{1,5}\s*$")
_NOT_DIGIT = re.compile(r"\D")
_LEADING_00 = re.compile(r"^00(?=[1-9])")
_PHONE_SEPARATORS = re.compile(r"[;；,，/、|]+")
_PHONE_CHARS = re.compile(r"^\+?[\d\s\-‐–—().\u00a0/]+$")
# Area codes of two digits (after the trunk 0): Beijing 10, the 2x cities. All others have three.
_CN_TWO_DIGIT_AREA = frozenset(_words("10 20 21 22 23 24 25 27 28 29"))


def _cn_fast_e164(raw: str) -> str | None:
    """E.164 for the common Chinese shapes without calling phonenumbers; None when unsure.

    Covers mobiles (1[3-9] + 9 digits) and landlines with trunk 0 and a valid-length area code
    and local number, with optional +86 / 0086 / 86 prefixes. The tests check it against
    phonenumbers, which handles everything else.
    """
    if not _PHONE_CHARS.match(raw):
        return None
    plus = raw.startswith("+")
    digits = _NOT_DIGIT.sub("", raw)
    if plus:
        if not digits.startswith("86"):
            return None
        digits = digits[2:]
        if digits.startswith("0"):
            return None  # "+86 010…" is unusual: let phonenumbers decide.
    elif digits.startswith("0086"):
        digits = digits[4:]
        if digits.startswith("0"):
            return None
    elif digits.startswith("86") and len(digits) == 13 and digits[2] == "1":
        digits = digits[2:]
    # 179xx are carrier prefixes (IP dialling), not mobiles: phonenumbers strips them.
    if len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789" and digits[:3] != "179":
        return "+86" + digits
    national = digits[1:] if digits.startswith("0") else (digits if plus or raw.startswith("00") else None)
    if not national or national[0] == "0" or (national[0] == "1" and national[:2] != "10"):
        return None
    area_len = 2 if national[:2] in _CN_TWO_DIGIT_AREA else 3
    local = national[area_len:]
    if 7 <= len(local) <= 8 and local[0] not in "01":
        return "+86" + national
    return None


@functools.lru_cache(maxsize=200_000)
def _normalize_phone_cached(raw: str, region: str) -> str:
    if region == "CN":
        fast = _cn_fast_e164(raw)
        if fast:
            return fast
    compact = _LEADING_00.sub("+", raw.replace(" ", ""))
    try:
        number = phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _is_bare_cn_mobile(text: str) -> bool:
    return (
        len(text) == 11
        and text[0] == "1"
        and text[1] in "3456789"
        and text.isascii()
        and text.isdigit()
        and not text.startswith("179")
    )


def normalize_phone(text: str | None, region: str = DEFAULT_REGION) -> str:
    """E.164 ('+8613800138000') for a parseable, possible number; '' otherwise.

    Accepts '138 0013 8000', '+86-138-0013-8000', '0086 138…', '(010) 6552 9988', full width.
    An extension ('转8021', 'ext 12', '010-65529988-8021') is dropped: the key is the main number.
    """
    if not text:
        return ""
    if region == "CN" and _is_bare_cn_mobile(text):
        return "+86" + text  # The commonest input by far: no regex, no cache.
    raw = nfkc(text)
    if not raw:
        return ""
    if _MAYBE_EXTENSION.search(raw):
        raw = _PHONE_EXTENSION.sub("", raw).strip() or raw
    result = _normalize_phone_cached(raw, region)
    if not result and _PHONE_DASH_EXTENSION.search(raw):
        result = _normalize_phone_cached(_PHONE_DASH_EXTENSION.sub("", raw), region)
    return result


def is_valid_phone(text: str | None, region: str = DEFAULT_REGION) -> bool:
    e164 = normalize_phone(text, region)
    if not e164:
        return False
    return phonenumbers.is_valid_number(phonenumbers.parse(e164, None))


def is_mobile_e164(e164: str) -> bool:
    """True for a Chinese mobile number in E.164 (+861[3-9]…); other countries count as landline."""
    return len(e164) == 14 and e164.startswith("+861") and e164[4] in "3456789"


def split_phones(text: str | None) -> list[str]:
    """Several numbers in one cell ('138… / 010-…', '138…;139…', '138…，139…') as separate strings."""
    if not text:
        return []
    text = str(text)
    if text.isdigit():
        return [text]
    return [part for part in _PHONE_SEPARATORS.split(text) if part.strip()]


# --- Emails -------------------------------------------------------------------------------------


def normalize_email(text: str | None) -> str:
    """Lowercased address if it looks like an email; '' otherwise."""
    value = nfkc(text).lower()
    return value if _EMAIL.match(value) else ""


def looks_like_phone(text: str) -> bool:
    digits = re.sub(r"\D", "", nfkc(text))
    return len(digits) >= 7 and not re.search(r"[^\d\s+\-().]", nfkc(text))


ROLE_EMAIL_LOCAL_PARTS = frozenset(
    _words(
        "info sales service services support contact admin office hr marketing enquiry enquiries inquiry "
        "hello mail noreply no-reply webmaster kefu"
    )
)
FREE_EMAIL_DOMAINS = frozenset(
    _words(
        "qq.com 163.com 126.com sina.com sina.cn sohu.com yeah.net foxmail.com 139.com 189.cn aliyun.com "
        "gmail.com hotmail.com outlook.com live.com yahoo.com icloud.com msn.com"
    )
)


def is_role_email(email: str) -> bool:
    """info@, sales@, kefu@…: shared by a team, weaker evidence than a personal address."""
    return email.partition("@")[0] in ROLE_EMAIL_LOCAL_PARTS


# --- Places -------------------------------------------------------------------------------------

# Provinces and their official long forms. Short forms are what the CRM stores ("广东").
_PROVINCE_LONG = {
    "内蒙古": ("内蒙古自治区",),
    "广西": ("广西壮族自治区", "广西自治区"),
    "西藏": ("西藏自治区",),
    "宁夏": ("宁夏回族自治区", "宁夏自治区"),
    "新疆": ("新疆维吾尔自治区", "新疆自治区"),
    "香港": ("香港特别行政区",),
    "澳门": ("澳门特别行政区",),
}
PROVINCES = frozenset(
    _words(
        "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 "
        "四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门"
    )
)
# Prefecture-level cities (and a few well-known county-level ones), short forms.
CITIES = frozenset(
    _words(
        """
    北京 天津 上海 重庆 香港 澳门 台北
    石家庄 唐山 秦皇岛 邯郸 邢台 保定 张家口 承德 沧州 廊坊 衡水 雄安
    太原 大同 阳泉 长治 晋城 朔州 晋中 运城 忻州 临汾 吕梁
    呼和浩特 包头 乌海 赤峰 通辽 鄂尔多斯 呼伦贝尔 巴彦淖尔 乌兰察布
    沈阳 大连 鞍山 抚顺 本溪 丹东 锦州 营口 阜新 辽阳 盘锦 铁岭 朝阳 葫芦岛
    长春 吉林 四平 辽源 通化 白山 松原 白城 延吉
    哈尔滨 齐齐哈尔 鸡西 鹤岗 双鸭山 大庆 伊春 佳木斯 七台河 牡丹江 黑河 绥化
    南京 无锡 徐州 常州 苏州 南通 连云港 淮安 盐城 扬州 镇江 泰州 宿迁 昆山 江阴 张家港 常熟
    杭州 宁波 温州 嘉兴 湖州 绍兴 金华 衢州 舟山 台州 丽水 义乌
    合肥 芜湖 蚌埠 淮南 马鞍山 淮北 铜陵 安庆 黄山 滁州 阜阳 宿州 六安 亳州 池州 宣城
    福州 厦门 莆田 三明 泉州 漳州 南平 龙岩 宁德 晋江
    南昌 景德镇 萍乡 九江 新余 鹰潭 赣州 吉安 宜春 抚州 上饶
    济南 青岛 淄博 枣庄 东营 烟台 潍坊 济宁 泰安 威海 日照 临沂 德州 聊城 滨州 菏泽
    郑州 开封 洛阳 平顶山 安阳 鹤壁 新乡 焦作 濮阳 许昌 漯河 三门峡 南阳 商丘 信阳 周口 驻马店
    武汉 黄石 十堰 宜昌 襄阳 鄂州 荆门 孝感 荆州 黄冈 咸宁 随州 恩施
    长沙 株洲 湘潭 衡阳 邵阳 岳阳 常德 张家界 益阳 郴州 永州 怀化 娄底
    广州 韶关 深圳 珠海 汕头 佛山 江门 湛江 茂名 肇庆 惠州 梅州 汕尾 河源 阳江 清远 东莞 中山 潮州 揭阳 云浮
    南宁 柳州 桂林 梧州 北海 防城港 钦州 贵港 玉林 百色 贺州 河池 来宾 崇左
    海口 三亚 三沙 儋州
    成都 自贡 攀枝花 泸州 德阳 绵阳 广元 遂宁 内江 乐山 南充 眉山 宜宾 广安 达州 雅安 巴中 资阳
    贵阳 六盘水 遵义 安顺 毕节 铜仁 凯里
    昆明 曲靖 玉溪 保山 昭通 丽江 普洱 临沧 大理 景洪
    拉萨 日喀则 昌都 林芝 山南 那曲
    西安 铜川 宝鸡 咸阳 渭南 延安 汉中 榆林 安康 商洛
    兰州 嘉峪关 金昌 白银 天水 武威 张掖 平凉 酒泉 庆阳 定西 陇南
    西宁 海东 格尔木
    银川 石嘴山 吴忠 固原 中卫
    乌鲁木齐 克拉玛依 吐鲁番 哈密 喀什 阿克苏 和田 伊宁 库尔勒 石河子
    """
    )
)
# Traditional forms of region names that occur in Hong Kong and Taiwan style input.
_TRADITIONAL_REGIONS = {
    "廣東": "广东",
    "廣西": "广西",
    "廣州": "广州",
    "東莞": "东莞",
    "蘇州": "苏州",
    "無錫": "无锡",
    "臺灣": "台湾",
    "台灣": "台湾",
    "臺北": "台北",
    "澳門": "澳门",
    "遼寧": "辽宁",
    "黑龍江": "黑龙江",
    "陝西": "陕西",
    "貴州": "贵州",
    "雲南": "云南",
    "寧夏": "宁夏",
    "內蒙古": "内蒙古",
    "瀋陽": "沈阳",
    "廈門": "厦门",
    "寧波": "宁波",
    "長沙": "长沙",
    "重慶": "重庆",
    "南寧": "南宁",
    "鄭州": "郑州",
    "濟南": "济南",
    "蘭州": "兰州",
    "烏魯木齊": "乌鲁木齐",
    "中國": "中国",
}
REGIONS = PROVINCES | CITIES | frozenset(_TRADITIONAL_REGIONS)
_MUNICIPALITIES = frozenset(_words("北京 天津 上海 重庆 香港 澳门"))
_NAME_REGIONS = REGIONS | {"中国"}
_REGION_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")


def _match_region_prefix(text: str, names: frozenset[str] = REGIONS) -> tuple[str, int]:
    """The region name at the start of `text` and the length it covers with its suffix; ('', 0)."""
    for size in (4, 3, 2):
        head = text[:size]
        if len(head) == size and head in names:
            end = size
            for suffix in _REGION_SUFFIXES:
                if text.startswith(suffix, end):
                    end += len(suffix)
                    break
            return _TRADITIONAL_REGIONS.get(head, head), end
    return "", 0


def _strip_region_suffix(name: str) -> str:
    for long_forms in _PROVINCE_LONG.values():
        if name in long_forms:
            return name[:2] if name[:3] not in PROVINCES else name[:3]
    for suffix in _REGION_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


@functools.lru_cache(maxsize=20_000)
def normalize_place(text: str | None) -> str:
    """A province or city as its comparable key: '广东省' → '广东', '深圳市' → '深圳', 'Shenzhen' → '深圳'.

    Latin spellings of known places are folded to the Chinese form (via pinyin), so a record with
    city 'Shenzhen City' meets one with '深圳'. Unknown Latin names stay lowercased.
    """
    value = nfkc(text)
    if not value:
        return ""
    value = _TRADITIONAL_REGIONS.get(value, value)
    if _HAN.search(value):
        value = _strip_region_suffix(value.replace(" ", ""))
        return _TRADITIONAL_REGIONS.get(value, value)
    latin = _NOT_LOWER.sub("", value.lower())
    for suffix in ("province", "city", "shi", "sheng", "municipality"):
        if latin.endswith(suffix) and len(latin) > len(suffix) + 2:
            latin = latin[: -len(suffix)]
            break
    return _place_by_pinyin().get(latin, latin)


@functools.cache
def _place_by_pinyin() -> dict[str, str]:
    from pypinyin import lazy_pinyin

    places: dict[str, str] = {}
    for name in sorted(PROVINCES | CITIES):
        # pypinyin's phrase reading first (成都 chengdu, 重庆 chongqing, 厦门 xiamen), then the
        # character-by-character one the keys use (chengdou), so both spellings meet.
        places.setdefault("".join(lazy_pinyin(name)).replace("ü", "u").replace("v", "u"), name)
        places.setdefault(pinyin_string(name), name)
    places.update({"hongkong": "香港", "macau": "澳门", "macao": "澳门", "peking": "北京", "canton": "广州"})
    places.update({"innermongolia": "内蒙古", "tibet": "西藏", "taipei": "台北"})
    return places


_ADDRESS_DROP = re.compile(r"[\s,，.。、;；:：'\"“”‘’()（）\[\]【】<>《》#＃\-—_/\\|]+")
# Administrative suffixes (province, city, district, county) and the house-number word (省市区县号,
# dropped in clean_address): both sides of a comparison drop them, so "南山区科技园10000号" meets
# "南山科技园10000".
_LATIN_ADDRESS_ABBREVIATIONS = {
    "street": "st",
    "road": "rd",
    "avenue": "ave",
    "boulevard": "blvd",
    "drive": "dr",
    "lane": "ln",
    "suite": "ste",
    "floor": "fl",
    "building": "bldg",
    "room": "rm",
    "number": "no",
    "district": "dist",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
}


def split_address(text: str | None, province: str = "", city: str = "") -> tuple[str, str, str]:
    """(province, city, rest) of an address: leading province and city words peeled off.

    A place word directly followed by a street word is a street ('山东路' in Qingdao, '北京路' in
    Guangzhou) unless it is the record's own province or city. Peeling stops after the city.
    """
    value = nfkc(text)
    found_province, found_city = "", ""
    while not found_city:
        value = value.lstrip()
        name, end = _match_region_prefix(value)
        if not end:
            break
        if end == len(name) and value[end : end + 1] in _STREET_WORDS and name not in (province, city):
            break
        if name in PROVINCES and not found_province:
            found_province = name
            if name in _MUNICIPALITIES:
                found_city = name
        elif name in CITIES:
            found_city = name
        else:
            break
        value = value[end:]
    return found_province, found_city, value


_STREET_WORDS = frozenset("路街道巷弄里大桥")


def normalize_address(text: str | None, province: str = "", city: str = "") -> str:
    """Comparable address: no province/city prefix, no punctuation or spaces, no 省/市/区/县/号.

    Latin addresses are lowercased with common words abbreviated ('Road' → 'rd').
    """
    if not text:
        return ""
    _, _, rest = split_address(text, normalize_place(province), normalize_place(city))
    return clean_address(rest)


def clean_address(rest: str) -> str:
    """The comparable form of an address whose province/city prefix is already split off."""
    if _HAN.search(rest):
        # Five replace() calls: three times faster than str.translate on CJK text, same result.
        return (
            _ADDRESS_DROP.sub("", rest)
            .lower()
            .replace("省", "")
            .replace("市", "")
            .replace("区", "")
            .replace("县", "")
            .replace("号", "")
        )
    words = _LATIN_WORD.findall(rest.lower())
    return " ".join(_LATIN_ADDRESS_ABBREVIATIONS.get(word, word) for word in words)


def normalize_postcode(text: str | None) -> str:
    """Digits and letters only, uppercased ('518 000' → '518000', 'sw1a 1aa' → 'SW1A1AA')."""
    return _NOT_ALNUM.sub("", nfkc(text)).upper()


# --- Pinyin -------------------------------------------------------------------------------------

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_ONLY = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$")


def has_han(text: str) -> bool:
    """True if `text` contains a Chinese (Han) character."""
    return bool(_HAN.search(text))


def is_han_only(text: str) -> bool:
    return bool(_HAN_ONLY.match(text))


@functools.cache
def _pinyin_table() -> dict[int, str]:
    """Every character pypinyin knows → its first (most common) reading, toneless, ü as u.

    pypinyin covers traditional characters too (張 → zhang, 偉 → wei, 華 → hua), so no separate
    traditional-to-simplified table is needed for pinyin keys. A str.translate table instead of
    pypinyin.lazy_pinyin: ~40x faster, and both sides of a comparison use the same reading.
    """
    from pypinyin.pinyin_dict import pinyin_dict

    table: dict[int, str] = {}
    for codepoint, readings in pinyin_dict.items():
        first = readings.split(",", 1)[0]
        table[codepoint] = "".join(c for c in unicodedata.normalize("NFD", first) if not unicodedata.combining(c))
    return table


def warm_up() -> None:
    """Build the lazily built tables now (pinyin, place names, compound surnames): a process that
    forks workers calls it first, so they share one copy instead of each building its own."""
    _pinyin_table()
    _place_by_pinyin()
    _compound_surname_pinyin()


def pinyin_string(text: str) -> str:
    """`text` with each Han character replaced by its pinyin ('华为ABC' → 'huaweiABC')."""
    return text.translate(_pinyin_table())


def to_pinyin(text: str | None) -> list[str]:
    """Syllables of the Han characters in `text`, toneless, ü as u; other characters dropped."""
    if not text:
        return []
    table = _pinyin_table()
    return [table[ord(c)] for c in text if ord(c) in table]


def fold_pinyin(text: str) -> str:
    """Latin spelling folded the way pinyin keys are: lowercase letters only, ü/v/yu-less forms as u."""
    value = text.lower()
    if not value.isascii():
        value = unicodedata.normalize("NFD", value)
    return _NOT_LOWER.sub("", value).replace("v", "u")


# --- Company names ------------------------------------------------------------------------------

# Longest first: the loop strips one suffix per pass and repeats until nothing changes.
_HAN_COMPANY_SUFFIXES = tuple(
    sorted(
        _words(
            """
        股份有限公司 有限责任公司 有限公司 股份公司 集团公司 总公司 分公司 子公司 公司 集团 控股 股份 有限 分厂 总厂 厂
        办事处 代表处 分店 门市部 营业部 经营部 商行 工作室 事务所 合伙企业 有限合伙 普通合伙
        有限責任公司 集團 總公司 廠 辦事處
        """
        ),
        key=len,
        reverse=True,
    )
)
_LATIN_COMPANY_WORDS = frozenset(
    _words(
        """
    co company companies corp corporation inc incorporated ltd limited llc llp lp plc gmbh ag kg ohg mbh
    sa sas sarl srl spa bv nv ab as asa oy pte pty kk nk se group holding holdings the
    youxiangongsi youxianzerengongsi gufenyouxiangongsi jituan gongsi fengongsi
    """
    )
)
_LATIN_REGION_WORDS = frozenset(
    _words(
        """
    china prc beijing shanghai shenzhen guangzhou hongkong hk tianjin chongqing hangzhou suzhou
    asia usa us uk europe germany deutschland japan singapore taiwan macau international intl
    """
    )
)
# A core that is only an industry word would make every "<region> 科技" the same company: keep the
# region then.
_GENERIC_CORES = frozenset(
    _words(
        """
    银行 科技 贸易 实业 电子 商贸 投资 发展 建设 工程 医院 大学 学院 酒店 宾馆 物流 建筑 置业 地产 房地产 证券
    保险 信托 机械 化工 医药 电器 食品 服装 网络 信息 技术 信息技术 文化 传媒 广告 咨询 管理 服务 能源 汽车 通信 电信
    移动 联通 电力 钢铁 水务 燃气 交通 航空 铁路 港口 旅游 农业 商业 工业 制造 贸易发展 国际 进出口 电子商务
    """
    )
)
_BRACKETED = re.compile(r"[(\[{【〔]([^()\[\]{}【】〔〕]*)[)\]}】〕]")
_PUNCT_AND_SPACE = re.compile(r"[\W_]+")


_HAN_SUFFIX_SET = frozenset(_HAN_COMPANY_SUFFIXES)
_HAN_SUFFIX_SIZES = sorted({len(suffix) for suffix in _HAN_COMPANY_SUFFIXES}, reverse=True)


def _strip_han_company(core: str) -> str:
    changed = True
    while changed and core:
        changed = False
        for size in _HAN_SUFFIX_SIZES:  # longest first, as a set lookup per length
            if len(core) > size and core[-size:] in _HAN_SUFFIX_SET:
                core = core[:-size]
                changed = True
                break
        # A region word left at the end ("…有限公司北京分公司" → "…有限公司北京").
        for size in (4, 3, 2):
            tail = core[-size:]
            if len(core) > size + 1 and tail in REGIONS:
                core = core[:-size]
                changed = True
                break
            if tail.endswith(("市", "省")) and len(core) > size + 2 and tail[:-1] in REGIONS:
                core = core[:-size]
                changed = True
                break
    # Leading region words ("深圳市华为…", "中国移动", "广东省深圳市…"), unless only a generic word stays.
    for _ in range(3):
        _, end = _match_region_prefix(core, _NAME_REGIONS)
        rest = core[end:]
        if not end or len(rest) < 2 or rest in _GENERIC_CORES:
            break
        core = rest
    return core


@functools.lru_cache(maxsize=100_000)
def company_core_name(text: str | None) -> str:
    """The distinctive part of a company name, comparable across spellings.

    '华为技术有限公司' → '华为技术'; '華為技術(深圳)有限公司' → '華為技術'; '深圳市腾讯计算机系统有限公司' →
    '腾讯计算机系统'; '华为技术有限公司北京分公司' → '华为技术'; 'Acme Trading Co., Ltd.' → 'acme trading';
    'Siemens (China) GmbH' → 'siemens'. Bracketed region words are dropped, other bracketed text
    is kept without brackets. Returns '' for empty input; never strips a name down to nothing.
    """
    value = nfkc(text).lower()
    if not value:
        return ""

    def bracket(match: re.Match) -> str:
        inner = match.group(1).strip()
        if not inner or inner in REGIONS or inner in {"中国", "中國"} or normalize_place(inner) in REGIONS:
            return " "
        latin = _NOT_LOWER.sub("", inner)
        return " " if latin and (latin in _LATIN_REGION_WORDS or latin in _place_by_pinyin()) else f" {inner} "

    value = _BRACKETED.sub(bracket, value)
    if _HAN.search(value):
        han = _PUNCT_AND_SPACE.sub("", value)
        core = _strip_han_company(han)
        return core or han
    words = _LATIN_WORD.findall(value.replace("&", " and "))
    kept = [w for w in words if w not in _LATIN_COMPANY_WORDS]
    while len(kept) > 1 and kept[-1] in _LATIN_REGION_WORDS:
        kept.pop()
    places = _place_by_pinyin()
    while len(kept) > 1 and (kept[0] in _LATIN_REGION_WORDS or kept[0] in places):
        kept.pop(0)  # "Shenzhen Huaqiang Electronics" → "huaqiang electronics"
    return " ".join(kept) or " ".join(words)


# Lines of business that end Chinese company names, longest first. Two names with one brand and
# different lines of business are sibling companies of one group, not one company.
INDUSTRIES = tuple(
    sorted(
        _words(
            """
    科技 网络科技 信息科技 生物科技 环保科技 智能科技 电子科技 新能源科技 信息技术 技术 贸易 商贸 国际贸易 进出口 实业 电子
    电气 电器 电子商务 机械 机械设备 设备 通信设备 化工 医药 生物医药 物流 供应链 建筑 建筑工程 装饰工程 工程 建材 食品
    服装 纺织 五金 塑胶制品 塑料制品 新材料 材料 投资 投资管理 资产管理 管理 咨询 管理咨询 文化传媒 传媒 广告 教育科技
    餐饮管理 餐饮 酒店管理 物业管理 房地产开发 置业 汽车配件 汽车销售 汽车服务 精密制造 制造 包装 印刷 家具 软件 网络
    能源 新能源 环保 农业 农业科技 旅游 人力资源 金融服务 融资租赁 保险代理 电力 安装工程 劳务 运输 货运代理 仪器 仪表
    """
        ),
        key=len,
        reverse=True,
    )
)


def split_industry(core: str) -> tuple[str, str]:
    """(brand, line of business) of a Chinese core name: '华为技术' → ('华为', '技术'),
    '腾讯计算机系统' → ('腾讯计算机系统', '')."""
    for industry in INDUSTRIES:
        if core.endswith(industry) and len(core) > len(industry):
            return core[: -len(industry)], industry
    return core, ""


def company_name_key(core: str) -> str:
    """Blocking key of a core name: pinyin for Han (meets traditional and homophone spellings),
    letters and digits without spaces for Latin."""
    if _HAN.search(core):
        return pinyin_string(core)
    return core.replace(" ", "")


# --- Person names -------------------------------------------------------------------------------

_COMPOUND_SURNAMES = frozenset(
    _words(
        """
    欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 钟离 端木 独孤 南宫 西门 百里
    呼延 申屠 太史 澹台 公冶 宗政 濮阳 淳于 单于 拓跋 赫连 万俟 闻人 东郭 歐陽 諸葛 長孫 鍾離 軒轅
    """
    )
)
# Surnames whose first dictionary reading is not the surname reading (曾 is céng in a word, zēng
# as a surname). Applied to the surname position only; a name with one of these is read both
# ways, because romanisation tools (and the people using them) often take the first reading.
_SURNAME_PINYIN = {
    "曾": "zeng",
    "单": "shan",
    "單": "shan",
    "解": "xie",
    "仇": "qiu",
    "区": "ou",
    "區": "ou",
    "查": "zha",
    "朴": "piao",
    "乐": "yue",
    "樂": "yue",
    "召": "shao",
    "缪": "miao",
    "繆": "miao",
    "覃": "qin",
    "盖": "ge",
    "蓋": "ge",
    "种": "chong",
    "種": "chong",
    "秘": "bi",
    "翟": "zhai",
    "员": "yun",
    "隗": "wei",
    "句": "gou",
    "薄": "bo",
    "柏": "bai",
    "长孙": "zhangsun",
    "長孫": "zhangsun",
    "尉迟": "yuchi",
    "万俟": "moqi",
    "单于": "chanyu",
    "重": "chong",
    "朝": "chao",
}
_HONORIFICS_HAN = ("先生", "女士", "小姐", "太太", "老师", "经理", "总", "博士", "教授")
# Short forms of English given names, folded to the full form so Mike Lee meets Michael Lee. None
# of them is a pinyin syllable (Dan, Ben, Ken are: 丹, 本, 肯), so Chinese names pass untouched.
_NICKNAMES = {
    "mike": "michael",
    "mick": "michael",
    "bob": "robert",
    "rob": "robert",
    "bobby": "robert",
    "bill": "william",
    "will": "william",
    "billy": "william",
    "dick": "richard",
    "rick": "richard",
    "jim": "james",
    "jimmy": "james",
    "tom": "thomas",
    "tommy": "thomas",
    "dave": "david",
    "chris": "christopher",
    "danny": "daniel",
    "matt": "matthew",
    "tony": "anthony",
    "steve": "steven",
    "andy": "andrew",
    "drew": "andrew",
    "josh": "joshua",
    "jeff": "jeffrey",
    "joe": "joseph",
    "ed": "edward",
    "ted": "edward",
    "tim": "timothy",
    "ron": "ronald",
    "sam": "samuel",
    "nick": "nicholas",
    "alex": "alexander",
    "liz": "elizabeth",
    "beth": "elizabeth",
    "betty": "elizabeth",
    "kate": "katherine",
    "katie": "katherine",
    "sue": "susan",
    "jenny": "jennifer",
    "jen": "jennifer",
    "peggy": "margaret",
    "maggie": "margaret",
    "meg": "margaret",
    "sandy": "sandra",
    "pat": "patricia",
    "patty": "patricia",
    "debbie": "deborah",
    "cathy": "catherine",
    "vicky": "victoria",
}
_HONORIFICS_LATIN = frozenset(_words("mr mrs ms miss dr prof sir madam mme herr frau"))
# Pinyin of common surnames, to tell which end of a Latin "Wei Zhang" / "Zhang Wei" is the surname.
_COMMON_SURNAMES = frozenset(
    _words(
        """
    wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo zheng liang xie song tang
    han feng deng cao peng zeng xiao tian dong pan yuan cai jiang yu du ye cheng wei su lu ding ren shen yao
    jin fu zhong jia cui dai fan fang kong shi tan liao qiu qin xiong bai mo hou meng yan gu lei long duan hao
    shao wan qian lai chang
    """
    )
)


@functools.lru_cache(maxsize=100_000)
def normalize_person_name(text: str | None) -> str:
    """Person name for exact comparison: Han names without spaces, dots or honorifics;
    Latin names lowercased, punctuation dropped, tokens in the order given."""
    value = nfkc(text)
    if not value:
        return ""
    if _HAN.search(value):
        han = "".join(_HAN.findall(value))
        for honorific in _HONORIFICS_HAN:
            if han.endswith(honorific) and len(han) > len(honorific):
                han = han[: -len(honorific)]
                break
        return han
    words = _LETTERS.findall(unicodedata.normalize("NFKD", value).lower())
    tokens = [_NICKNAMES.get(t, t) for t in words if t not in _HONORIFICS_LATIN]
    if len(tokens) > 2:
        # Drop initials ("John A. Smith") when enough words remain.
        tokens = [t for t in tokens if len(t) > 1] if sum(len(t) > 1 for t in tokens) >= 2 else tokens
    return " ".join(tokens)


@functools.lru_cache(maxsize=100_000)
def person_name_parts(normalized: str) -> tuple[tuple[str, str], ...]:
    """Readings of a normalised person name as (surname, given name) in folded pinyin.

    '张伟' → (('zhang', 'wei'),); '欧阳娜娜' → (('ouyang', 'nana'),); 'zhang wei' and 'wei zhang'
    → (('wei', 'zhang'),) — order-free: the caller compares both pairings. With three or more Latin
    words both ends are tried as the surname ('wei ming zhang' → ('wei','mingzhang'),
    ('zhang','weiming')). Traditional characters read like simplified ones (張偉 = 张伟).
    """
    if not normalized:
        return ()
    if _HAN_ONLY.match(normalized):
        surname, given = split_han_name(normalized)
        given_py = pinyin_string(given)
        default = pinyin_string(surname)
        special = _SURNAME_PINYIN.get(surname)
        if special and special != default:
            return ((special, given_py), (default, given_py))
        return ((default, given_py),)
    if _HAN.search(normalized):
        return ((fold_pinyin(pinyin_string(normalized)), ""),)
    tokens = [fold_pinyin(t) for t in normalized.split()]
    tokens = [t for t in tokens if t]
    if not tokens:
        return ()
    if len(tokens) == 1:
        return ((tokens[0], ""),)
    if len(tokens) == 2:
        return (tuple(sorted(tokens)),)  # type: ignore[return-value]
    first = (tokens[0], "".join(tokens[1:]))
    last = (tokens[-1], "".join(tokens[:-1]))
    return tuple(dict.fromkeys((tuple(sorted(first)), tuple(sorted(last)))))  # type: ignore[arg-type]


def split_han_name(name: str) -> tuple[str, str]:
    """(surname, given name) of a name in Chinese characters, compound surnames included (司马,
    司馬 alike: they are recognised by their pinyin)."""
    size = 2 if len(name) > 2 and pinyin_string(name[:2]) in _compound_surname_pinyin() else 1
    return name[:size], name[size:]


@functools.cache
def _compound_surname_pinyin() -> frozenset[str]:
    return frozenset(pinyin_string(surname) for surname in _COMPOUND_SURNAMES)


def fuzzy_syllable(syllable: str) -> str:
    """A pinyin syllable with the distinctions the pinyin input method's "fuzzy pinyin" setting
    ignores folded away: zh/z, ch/c, sh/s, n/l, r/l, f/h at the start, -ng/-n at the end
    (成 cheng / 晨 chen, 刘 liu / 牛 niu). Typing slips and southern accents live there."""
    if syllable[:2] in ("zh", "ch", "sh"):
        syllable = syllable[0] + syllable[2:]
    if syllable[:1] in ("n", "r"):
        syllable = "l" + syllable[1:]
    elif syllable[:1] == "f":
        syllable = "h" + syllable[1:]
    if syllable.endswith("ng"):
        syllable = syllable[:-1]
    return syllable


def person_name_keys(normalized: str, parts: tuple[tuple[str, str], ...] | None = None) -> list[str]:
    """Blocking keys of a person name: each reading as 'a b' with the parts sorted. Pass `parts`
    when person_name_parts(normalized) is already at hand."""
    keys = []
    for surname, given in person_name_parts(normalized) if parts is None else parts:
        if given and surname:
            keys.append(" ".join(sorted((surname, given))))
        elif len(surname) >= 6 and not _HAN.search(normalized):
            keys.append(surname)  # One Latin word such as 'zhangwei'; a lone surname is no key.
    return keys


_COMPANY_WORDS_HAN = _words(
    "公司 集团 厂 商店 商行 店 中心 银行 医院 学校 大学 学院 研究所 研究院 事务所 工作室 协会 商会 合作社 基金会 "
    "门市 部 局 委员会 集團 廠"
)


def looks_like_person_name(text: str | None) -> bool:
    """Heuristic for rows without a kind: 2–4 Han characters starting with a common surname, or 2–3
    Latin words, and no company word or legal form."""
    value = nfkc(text)
    if not value:
        return False
    if _HAN.search(value):
        han = "".join(_HAN.findall(value))
        if not 2 <= len(han) <= 4 or any(word in han for word in _COMPANY_WORDS_HAN):
            return False
        surname = _SURNAME_PINYIN.get(han[0]) or pinyin_string(han[0])
        return pinyin_string(han[:2]) in _compound_surname_pinyin() or fold_pinyin(surname) in _COMMON_SURNAMES
    words = _LETTERS.findall(value.lower())
    if any(w in _LATIN_COMPANY_WORDS for w in words):
        return False
    return 2 <= len(words) <= 3


# --- Identity numbers and dates -----------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_number_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def normalize_id_number(text: str | None) -> str:
    """Resident identity number as 18 characters with an uppercase X; 15-digit ones are widened
    (century 19 and the check character added). Anything else is returned compacted and
    uppercased so it can still be compared; '' for empty or placeholder values ('000000…')."""
    value = _CODE_SEPARATORS.sub("", nfkc(text)).upper()
    if not value or len(set(value)) == 1:
        return ""
    if len(value) == 15 and value.isdigit():
        first17 = value[:6] + "19" + value[6:]
        return first17 + id_number_check_char(first17)
    return value


def is_valid_id_number(value: str) -> bool:
    return (
        len(value) == 18
        and value[:17].isdigit()
        and value[17] in "0123456789X"
        and id_number_check_char(value[:17]) == value[17]
    )


def birth_date_from_id(value: str) -> str:
    """'YYYY-MM-DD' from an 18-character identity number; '' if it holds no plausible date."""
    if len(value) != 18 or not value[:17].isdigit():
        return ""
    return _iso_date(int(value[6:10]), int(value[10:12]), int(value[12:14]))


def normalize_credit_code(text: str | None) -> str:
    """Unified social credit code uppercased without spaces or dashes; '' for placeholders."""
    value = _CODE_SEPARATORS.sub("", nfkc(text)).upper()
    if not value or len(set(value)) == 1:
        return ""
    return value


def _iso_date(year: int, month: int, day: int) -> str:
    try:
        date = datetime.date(year, month, day)
    except ValueError:
        return ""
    if not 1900 <= year <= 2100:
        return ""
    return date.isoformat()


_DATE_YMD = re.compile(r"^(\d{4})\D{1,2}(\d{1,2})\D{1,2}(\d{1,2})\D?")
_DATE_DMY = re.compile(r"^(\d{1,2})\D(\d{1,2})\D(\d{4})$")


def normalize_birth_date(text: str | None) -> str:
    """'YYYY-MM-DD' from 1985-03-12, 1985/3/12, 1985.3.12, 19850312, 1985年3月12日, 12/03/1985
    (day first, as in China and Europe, unless the first number cannot be a day); '' if unknown.
    A time part ('1985-03-12 00:00:00', as Excel writes) is ignored."""
    value = nfkc(text)
    if not value:
        return ""
    match = _DATE_YMD.match(value)
    if match:
        return _iso_date(int(match[1]), int(match[2]), int(match[3]))
    if len(value) == 8 and value.isdigit():
        return _iso_date(int(value[:4]), int(value[4:6]), int(value[6:]))
    match = _DATE_DMY.match(value)
    if match:
        first, second, year = int(match[1]), int(match[2]), int(match[3])
        if second > 12 >= first:
            return _iso_date(year, first, second)
        return _iso_date(year, second, first)
    return ""
