"""The duplicate-matching engine: pure Python, no database.

Every path that looks for duplicates uses it — the on-entry warning, the import, the batch job and
`manage.py find_duplicates` — so they all agree on what a duplicate is:

1. `prepare(record)` normalises a `Record` once (dedup.normalize).
2. `match_keys(record)` gives the exact keys ("p:+8613800138000", "n:huaweijishu", …) that the
   database stores in an indexed table: candidates are records sharing a key (equality joins).
3. `score_pair(a, b)` scores a candidate pair 0–100 field by field with rapidfuzz and keeps the
   evidence: which fields agreed, how (exact / pinyin / fuzzy), and which conflicted (different
   identity numbers, birth dates, names), each with its signed points.
4. `find_pairs(records)` does 2 and 3 for an in-memory batch: blocking by keys, never all pairs,
   skipping keys shared by so many records that they say nothing (a common name, a switchboard).

Points are additive and the score is their sum clamped to 0–100; docs/adr/0003-matching-engine.md
gives the reasoning behind each weight and the thresholds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, Levenshtein

from dedup import normalize as nz

COMPANY = "company"
PERSON = "person"

#: Score at or above which a pair is reported as a likely duplicate (import, batch job, CLI).
LIKELY = 65
#: Score at or above which a pair is worth showing (on-entry warning, review queue).
POSSIBLE = 50

#: A key shared by more records than this forms no candidate pairs by itself (see find_pairs).
KEY_BLOCK_CAPS = {
    "c": 20,  # credit code: more than a handful sharing one is a placeholder
    "i": 20,  # identity number
    "p": 50,  # phone: a switchboard or a "no number" filler beyond that
    "e": 50,  # email
    "a": 30,  # city + address: an office tower
    "n": 10,  # name alone: "wei zhang" is shared by thousands; those meet through nc/nb instead
    "nc": 20,  # name + city
    "nb": 20,  # person name + birth date
    "nd": 10,  # company core name one edit away (typo neighbourhood)
}
#: The kinds of keys made from a name (the rest are identifiers, contacts and addresses).
NAME_KEY_KINDS = ("n", "nc", "nb", "nd")
#: A phone or email shared by more records than this counts as a shared line, not as identity.
COMMON_KEY_SIZE = 10

# Points per field (see the ADR). Positive points are agreement, negative points are conflict.
POINTS = {
    "code_exact": 70,
    "code_fuzzy": 35,
    "code_conflict": -60,
    "birth_exact": 20,
    "birth_conflict": -40,
    "person_name_exact": 40,
    "person_name_pinyin": 35,
    "person_name_fuzzy": 32,
    "company_name_exact": 45,
    "company_name_short": 38,
    "company_name_pinyin": 38,
    "company_name_fuzzy": 35,
    "name_conflict": -35,
    "person_mobile": 45,
    "person_landline": 15,
    "company_mobile": 35,
    "company_landline": 35,
    "person_email": 45,
    "company_email": 35,
    "role_email": 25,
    "shared_contact": 5,
    "email_domain": 10,
    "email_domain_conflict": -10,
    "address_exact": 20,
    "address_fuzzy": 10,
    "city_exact": 5,
    "city_conflict": -5,
    "postcode_exact": 3,
}


@dataclass(frozen=True, slots=True)
class Record:
    """One customer as the engine sees it. `id` is the external id (import) or the primary key.

    `kind` is "company" or "person"; anything else (blank, "公司", "个人") is normalised or inferred.
    Values are raw: prepare() normalises them.
    """

    id: str | int
    kind: str = ""
    name: str = ""
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    address: str = ""
    province: str = ""
    city: str = ""
    postcode: str = ""
    birth_date: str = ""
    id_number: str = ""
    credit_code: str = ""


class Prepared(NamedTuple):
    """A Record normalised once; what keys and scores are computed from."""

    id: str | int
    kind: str
    name: str  # company core name, or normalised person name
    name_han: bool  # the name is written in Chinese characters
    name_key: str  # company: pinyin/latin key; person: '' (see parts)
    parts: tuple[tuple[str, str], ...]  # person: (surname, given) readings in pinyin
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    address: str
    province: str
    city: str
    postcode: str
    birth_date: str
    id_number: str
    credit_code: str


class Evidence(NamedTuple):
    """One field's verdict. `agreement`: exact, pinyin, fuzzy, weak, shared or conflict.

    Carries codes and numbers only, never the compared values: an explanation may be shown to
    someone who sees one of the two records masked.
    """

    field: str
    agreement: str
    points: int
    similarity: float | None = None


class Match(NamedTuple):
    """A pair's score 0–100 and the evidence it adds up from. (Named tuples rather than dataclasses:
    the batch job creates millions of them.)"""

    score: int
    evidence: tuple[Evidence, ...]

    @property
    def level(self) -> str:
        if self.score >= LIKELY:
            return "likely"
        return "possible" if self.score >= POSSIBLE else "unlikely"

    @property
    def conflicts(self) -> tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if e.agreement == "conflict")


_KIND_ALIASES = {
    "company": COMPANY,
    "c": COMPANY,
    "org": COMPANY,
    "organization": COMPANY,
    "organisation": COMPANY,
    "business": COMPANY,
    "corporate": COMPANY,
    "公司": COMPANY,
    "企业": COMPANY,
    "单位": COMPANY,
    "机构": COMPANY,
    "法人": COMPANY,
    "person": PERSON,
    "p": PERSON,
    "individual": PERSON,
    "private": PERSON,
    "个人": PERSON,
    "自然人": PERSON,
    "人": PERSON,
}


def normalize_kind(text: str | None) -> str:
    """'company', 'person' or '' (unknown) from what an import file says."""
    return _KIND_ALIASES.get(nz.nfkc(text).lower(), "")


def infer_kind(record: Record) -> str:
    """Kind of a row that does not say: identifiers first, then the shape of the name."""
    if nz.normalize_credit_code(record.credit_code):
        return COMPANY
    if nz.normalize_id_number(record.id_number) or nz.normalize_birth_date(record.birth_date):
        return PERSON
    return PERSON if nz.looks_like_person_name(record.name) else COMPANY


def prepare(record: Record) -> Prepared:
    """Normalise every field once. A birth date missing from a person is taken from the identity
    number; a province or city missing is taken from the address."""
    return prepare_values(
        record.id,
        record.kind,
        record.name,
        record.phones,
        record.emails,
        record.address,
        record.province,
        record.city,
        record.postcode,
        record.birth_date,
        record.id_number,
        record.credit_code,
    )


def prepare_values(
    record_id: str | int,
    kind: str,
    name: str,
    phones: Iterable[str],
    emails: Iterable[str],
    address: str,
    province: str,
    city: str,
    postcode: str,
    birth_date: str,
    id_number: str,
    credit_code: str,
) -> Prepared:
    """prepare() on plain values, for bulk callers that would only build a Record to unpack it."""
    kind = _KIND_ALIASES.get(kind) or normalize_kind(kind)
    if not kind:
        kind = infer_kind(
            Record(record_id, kind, name, birth_date=birth_date, id_number=id_number, credit_code=credit_code)
        )
    normalized_phones: list[str] = []
    for raw in phones:
        if raw:
            for part in nz.split_phones(raw):
                phone = nz.normalize_phone(part)
                if phone and phone not in normalized_phones:
                    normalized_phones.append(phone)
    normalized_emails: list[str] = []
    for raw in emails:
        if raw:
            email = nz.normalize_email(raw)
            if email and email not in normalized_emails:
                normalized_emails.append(email)
    province = nz.normalize_place(province) if province else ""
    city = nz.normalize_place(city) if city else ""
    if address:
        found_province, found_city, rest = nz.split_address(address, province, city)
        province = province or found_province
        city = city or found_city
        address = nz.clean_address(rest)
    if kind == COMPANY:
        core = nz.company_core_name(name)
        name_key = nz.company_name_key(core)
        parts: tuple[tuple[str, str], ...] = ()
        id_number = birth = ""
        credit_code = nz.normalize_credit_code(credit_code) if credit_code else ""
    else:
        core = nz.normalize_person_name(name)
        name_key = ""
        parts = nz.person_name_parts(core)
        id_number = nz.normalize_id_number(id_number) if id_number else ""
        birth = (nz.normalize_birth_date(birth_date) if birth_date else "") or nz.birth_date_from_id(id_number)
        credit_code = ""
    return Prepared(
        record_id,
        kind,
        core,
        nz.has_han(core),
        name_key,
        parts,
        tuple(normalized_phones),
        tuple(normalized_emails),
        address,
        province,
        city,
        nz.normalize_postcode(postcode) if postcode else "",
        birth,
        id_number,
        credit_code,
    )


def _prepared(record: Record | Prepared) -> Prepared:
    return record if isinstance(record, Prepared) else prepare(record)


# --- Keys ---------------------------------------------------------------------------------------


def _company_typo_keys(core: str, key: str) -> list[str]:
    """Keys that two names one edit apart share (deletion neighbourhood), so a typo'd company name
    still finds its twin without any other field in common. Han names by character, one-word Latin
    names by letter, several-word Latin names by dropping one word."""
    if core and nz.is_han_only(core):
        if not 4 <= len(core) <= 10:
            return []
        return [core, *{core[:i] + core[i + 1 :] for i in range(len(core))}]
    words = core.split()
    if len(words) >= 2:
        return [key, *{"".join(words[:i] + words[i + 1 :]) for i in range(len(words)) if len(words) <= 6}]
    if 5 <= len(key) <= 12:
        return [key, *{key[:i] + key[i + 1 :] for i in range(len(key))}]
    return []


def keyed_values(p: Prepared, *, typo_keys: bool = True) -> list[tuple[str, str]]:
    """The match keys of a prepared record as (kind, value) pairs; see match_keys. Without
    `typo_keys` the company typo neighbourhood ("nd") is left out."""
    keys = [("p", phone) for phone in p.phones]
    keys += [("e", email) for email in p.emails]
    if p.credit_code and len(p.credit_code) >= 15:
        keys.append(("c", p.credit_code))
    if p.id_number and len(p.id_number) >= 15:
        keys.append(("i", p.id_number))
    if p.kind == COMPANY:
        name_keys = [p.name_key] if len(p.name_key) >= 4 else []
        if typo_keys:
            keys += [("nd", k) for k in _company_typo_keys(p.name, p.name_key)]
    else:
        name_keys = nz.person_name_keys(p.name, p.parts)
    for name_key in name_keys:
        keys.append(("n", name_key))
        if p.city:
            keys.append(("nc", f"{name_key}|{p.city}"))
        if p.birth_date:
            keys.append(("nb", f"{name_key}|{p.birth_date}"))
    if len(p.address) >= 6:
        keys.append(("a", f"{p.city}|{p.address}"))
    return keys


def match_keys(record: Record | Prepared) -> set[str]:
    """Exact keys for candidate search. Two records are candidates when they share one.

    c: credit code, i: identity number, p: phone (E.164), e: email, a: city + address;
    n: name key — a company's core name in pinyin (Latin letters for Western names), a person's
    name readings with their parts sorted ('wei zhang' for 张伟, Zhang Wei, Wei Zhang); nc: name
    key + city; nb: person name key + birth date; nd: typo neighbourhood of a company core name.
    """
    return {f"{kind}:{value}" for kind, value in keyed_values(_prepared(record))}


def key_kind(key: str) -> str:
    """'p' for 'p:+86…', 'nc' for 'nc:wei zhang|北京'."""
    return key[: key.index(":")]


def block_cap(key: str) -> int:
    return KEY_BLOCK_CAPS.get(key_kind(key), 20)


# --- Scoring ------------------------------------------------------------------------------------


def _compare_codes(field: str, x: str, y: str, evidence: list[Evidence]) -> None:
    if not x or not y:
        return
    if x == y:
        evidence.append(Evidence(field, "exact", POINTS["code_exact"]))
    elif len(x) == len(y) and OSA.distance(x, y) <= 1:
        evidence.append(Evidence(field, "fuzzy", POINTS["code_fuzzy"]))
    else:
        evidence.append(Evidence(field, "conflict", POINTS["code_conflict"]))


def _compare_birth(x: str, y: str, evidence: list[Evidence]) -> None:
    if not x or not y:
        return
    if x == y:
        evidence.append(Evidence("birth_date", "exact", POINTS["birth_exact"]))
    elif OSA.distance(x, y) <= 1 or (x[:4] == y[:4] and x[5:7] == y[8:10] and x[8:10] == y[5:7]):
        # One mistyped digit or day and month swapped: neither agreement nor conflict.
        evidence.append(Evidence("birth_date", "weak", 0))
    else:
        evidence.append(Evidence("birth_date", "conflict", POINTS["birth_conflict"]))


def _parts_agree(x: str, y: str) -> bool:
    """One name part typed two ways: at most one edit, or one per three letters in longer parts.
    Michael / Richard or Stephanie / Stefan are different names, however many letters they share."""
    return OSA.distance(x, y) <= max(1, (min(len(x), len(y)) + 1) // 3)


def _part_similarity(a: tuple[str, str], b: tuple[str, str]) -> float:
    """Similarity of two (surname, given) readings, order-free, each part weighing half; 0 unless
    both parts agree (John / Jane Smith are two people)."""
    if not a[1] or not b[1]:
        joined_a, joined_b = a[0] + a[1], b[0] + b[1]
        return max(OSA.normalized_similarity(joined_a, joined_b), OSA.normalized_similarity(joined_a, b[1] + b[0]))
    best = 0.0
    for first, second in ((b[0], b[1]), (b[1], b[0])):
        if _parts_agree(a[0], first) and _parts_agree(a[1], second):
            best = max(best, (OSA.normalized_similarity(a[0], first) + OSA.normalized_similarity(a[1], second)) / 2)
    return best


def _han_name_similarity(a: str, b: str) -> float:
    """Two names in Chinese characters compared syllable by syllable: the surname weighs 0.3,
    the given name 0.7 (a shared surname says little: 王 is one Chinese in fourteen). Syllables
    alike under fuzzy pinyin (成 cheng / 晨 chen) count nine tenths; letters are not compared (燕
    yan and 芳 fang share two letters and nothing else). A given name with no syllable in common
    gives at most 0.3."""
    surname_a, given_a = nz.split_han_name(a)
    surname_b, given_b = nz.split_han_name(b)
    surname = _syllables_similarity(nz.to_pinyin(surname_a), nz.to_pinyin(surname_b))
    given = _syllables_similarity(nz.to_pinyin(given_a), nz.to_pinyin(given_b))
    return 0.3 * surname + 0.7 * given


def _syllables_similarity(a: list[str], b: list[str]) -> float:
    if a == b:
        return 1.0
    fuzzy_a, fuzzy_b = [nz.fuzzy_syllable(s) for s in a], [nz.fuzzy_syllable(s) for s in b]
    exact = Levenshtein.normalized_similarity(a, b)
    return max(exact, 0.9 * Levenshtein.normalized_similarity(fuzzy_a, fuzzy_b))


def _fuzzy_points(maximum: int, similarity: float) -> int:
    return round(maximum * min(1.0, (similarity - 0.55) / 0.3))


def _classify_name(similarity: float, fuzzy_max: int, evidence: list[Evidence]) -> None:
    similarity = round(similarity, 3)
    if similarity >= 0.75:
        evidence.append(Evidence("name", "fuzzy", _fuzzy_points(fuzzy_max, similarity), similarity))
    elif similarity >= 0.6:
        evidence.append(Evidence("name", "weak", 0, similarity))
    else:
        evidence.append(Evidence("name", "conflict", POINTS["name_conflict"], similarity))


def _compare_person_names(a: Prepared, b: Prepared, evidence: list[Evidence]) -> None:
    if not a.parts or not b.parts:
        return
    if a.name == b.name:
        evidence.append(Evidence("name", "exact", POINTS["person_name_exact"], 1.0))
        return
    # A bare surname ("张先生" → 张) says little either way.
    if (a.name_han and len(a.name) == 1) or (b.name_han and len(b.name) == 1):
        agree = a.parts[0][0] == b.parts[0][0]
        evidence.append(Evidence("name", "weak" if agree else "conflict", 0 if agree else POINTS["name_conflict"]))
        return
    if {tuple(sorted(p)) for p in a.parts} & {tuple(sorted(p)) for p in b.parts}:
        both_latin = not a.name_han and not b.name_han
        agreement, points = (
            ("exact", POINTS["person_name_exact"]) if both_latin else ("pinyin", POINTS["person_name_pinyin"])
        )
        evidence.append(Evidence("name", agreement, points, 1.0))
        return
    if a.name_han and b.name_han and nz.is_han_only(a.name) and nz.is_han_only(b.name):
        similarity = _han_name_similarity(a.name, b.name)
    else:
        similarity = max(_part_similarity(pa, pb) for pa in a.parts for pb in b.parts)
    _classify_name(similarity, POINTS["person_name_fuzzy"], evidence)


def _compare_company_names(a: Prepared, b: Prepared, evidence: list[Evidence]) -> None:
    if not a.name or not b.name:
        return
    if a.name == b.name:
        long_name = len(a.name) >= 4 if a.name_han else len(a.name_key) >= 8
        points = POINTS["company_name_exact"] if long_name else POINTS["company_name_short"]
        evidence.append(Evidence("name", "exact", points, 1.0))
        return
    if a.name_key == b.name_key and len(a.name_key) >= 4:
        evidence.append(Evidence("name", "pinyin", POINTS["company_name_pinyin"], 1.0))
        return
    key_similarity = Levenshtein.normalized_similarity(a.name_key, b.name_key)
    if a.name_han != b.name_han:
        # Chinese name against a Latin one: comparable when the Latin one is pinyin, or when it
        # starts with the brand in pinyin ("Yunzhuo Chemical" for 云卓化工); otherwise neither
        # agreement nor conflict (an English trade name can be anything).
        han, latin = (a, b) if a.name_han else (b, a)
        brand = nz.pinyin_string(nz.split_industry(han.name)[0])
        if key_similarity < 0.8 and len(brand) >= 4 and latin.name_key.startswith(brand):
            key_similarity = 0.8
        if key_similarity >= 0.75:
            _classify_name(key_similarity, POINTS["company_name_fuzzy"], evidence)
        return
    if a.name_han:
        (brand_a, industry_a), (brand_b, industry_b) = nz.split_industry(a.name), nz.split_industry(b.name)
        if (
            industry_a
            and industry_b
            and not industry_a.endswith(industry_b)
            and not industry_b.endswith(industry_a)
            and nz.pinyin_string(brand_a) == nz.pinyin_string(brand_b)
        ):
            # One brand, two lines of business (明图电子 / 明图电气): sibling companies of a group.
            evidence.append(Evidence("name", "conflict", POINTS["name_conflict"], 0.0))
            return
        if industry_a and industry_a == industry_b:
            # The same line of business: the brand alone tells the companies apart (越恒纺织 and
            # 越聚纺织 are as different as their brands, not 75% alike).
            brand_key_similarity = Levenshtein.normalized_similarity(
                nz.pinyin_string(brand_a), nz.pinyin_string(brand_b)
            )
            similarity = max(Levenshtein.normalized_similarity(brand_a, brand_b), brand_key_similarity - 0.05)
            if 0.5 <= similarity < 0.75:
                # Half a short brand alike: a typo as often as another company. Neither way.
                evidence.append(Evidence("name", "weak", 0, round(similarity, 3)))
            else:
                _classify_name(similarity, POINTS["company_name_fuzzy"], evidence)
            return
        similarity = max(Levenshtein.normalized_similarity(a.name, b.name), key_similarity - 0.05)
        shorter, longer = sorted((a.name, b.name), key=len)
    else:
        similarity = max(fuzz.token_sort_ratio(a.name, b.name) / 100, key_similarity)
        shorter, longer = sorted((a.name_key, b.name_key), key=len)
    short_key, long_key = sorted((a.name_key, b.name_key), key=len)
    if (len(shorter) >= (2 if a.name_han else 4) and shorter in longer) or (
        len(short_key) >= 6 and short_key in long_key
    ):
        # "华为" within "华为技术", "金浩森机械" within "沈陽金浩森機械": an abbreviation, a prefix
        # the normaliser did not know, or a sibling.
        similarity = max(similarity, 0.8)
    _classify_name(similarity, POINTS["company_name_fuzzy"], evidence)


def _compare_contacts(a: Prepared, b: Prepared, common_keys: Container[str], evidence: list[Evidence]) -> None:
    company = a.kind == COMPANY
    points = []
    shared_lines = 0
    for phone in set(a.phones).intersection(b.phones) if a.phones and b.phones else ():
        if "p:" + phone in common_keys:
            shared_lines += 1
        elif nz.is_mobile_e164(phone):
            points.append(POINTS["company_mobile" if company else "person_mobile"])
        else:
            points.append(POINTS["company_landline" if company else "person_landline"])
    for email in set(a.emails).intersection(b.emails) if a.emails and b.emails else ():
        if "e:" + email in common_keys:
            shared_lines += 1
        elif nz.is_role_email(email):
            points.append(POINTS["role_email"])
        else:
            points.append(POINTS["company_email" if company else "person_email"])
    if points:
        points.sort(reverse=True)
        # The strongest contact counts fully, each further one a quarter: they are not independent.
        evidence.append(Evidence("contact", "exact", points[0] + round(sum(points[1:]) / 4)))
    if shared_lines:
        evidence.append(Evidence("contact", "shared", POINTS["shared_contact"]))
    if company and a.emails and b.emails:
        # Companies mail from their own domain: one in common is a hint, none in common
        # (neither a free mailbox) a hint of two companies.
        domains_a = {e.partition("@")[2] for e in a.emails} - nz.FREE_EMAIL_DOMAINS
        domains_b = {e.partition("@")[2] for e in b.emails} - nz.FREE_EMAIL_DOMAINS
        if domains_a & domains_b:
            if not points:
                evidence.append(Evidence("email_domain", "exact", POINTS["email_domain"]))
        elif domains_a and domains_b:
            evidence.append(Evidence("email_domain", "conflict", POINTS["email_domain_conflict"]))


def _compare_places(a: Prepared, b: Prepared, evidence: list[Evidence]) -> None:
    same_place = True
    if a.city and b.city:
        if a.city == b.city:
            evidence.append(Evidence("city", "exact", POINTS["city_exact"]))
        else:
            evidence.append(Evidence("city", "conflict", POINTS["city_conflict"]))
            same_place = False
    elif a.province and b.province and a.province != b.province:
        evidence.append(Evidence("province", "conflict", POINTS["city_conflict"]))
        same_place = False
    # Equal street addresses in different cities are different places; a moved customer keeps the
    # old address elsewhere, so an address that differs is no conflict.
    if same_place and a.address and b.address:
        if a.address == b.address:
            evidence.append(Evidence("address", "exact", POINTS["address_exact"], 1.0))
        else:
            if a.name_han or nz.has_han(a.address):
                similarity = fuzz.ratio(a.address, b.address) / 100
            else:
                similarity = fuzz.token_sort_ratio(a.address, b.address) / 100
            shorter, longer = sorted((a.address, b.address), key=len)
            if len(shorter) >= 8 and shorter in longer:
                similarity = max(similarity, 0.9)
            similarity = round(similarity, 3)
            if similarity >= 0.9:
                evidence.append(Evidence("address", "fuzzy", POINTS["address_exact"], similarity))
            elif similarity >= 0.75:
                evidence.append(Evidence("address", "fuzzy", POINTS["address_fuzzy"], similarity))
    if same_place and len(a.postcode) >= 5 and a.postcode == b.postcode:
        evidence.append(Evidence("postcode", "exact", POINTS["postcode_exact"]))


def score_pair(a: Record | Prepared, b: Record | Prepared, *, common_keys: Container[str] = ()) -> Match:
    """Score how likely two records are the same customer, 0–100, with the evidence.

    `common_keys` are phone/email keys ("p:…", "e:…") known to be shared by many records (a
    switchboard, a shared mailbox): agreeing on one of them counts as a shared line, not identity.
    A company and a person never match.
    """
    a, b = _prepared(a), _prepared(b)
    if a.kind != b.kind:
        return Match(0, (Evidence("kind", "conflict", -100),))
    evidence: list[Evidence] = []
    if a.kind == COMPANY:
        _compare_codes("credit_code", a.credit_code, b.credit_code, evidence)
        _compare_company_names(a, b, evidence)
    else:
        _compare_codes("id_number", a.id_number, b.id_number, evidence)
        _compare_birth(a.birth_date, b.birth_date, evidence)
        _compare_person_names(a, b, evidence)
    _compare_contacts(a, b, common_keys, evidence)
    _compare_places(a, b, evidence)
    total = sum([e.points for e in evidence])
    return Match(max(0, min(100, total)), tuple(evidence))


# --- Batches ------------------------------------------------------------------------------------


def candidate_blocks(
    keyed: Iterable[tuple[int, Iterable[str]]],
) -> tuple[dict[str, list[int]], set[str]]:
    """Blocks (key → record indexes) usable for pairing, and the common phone/email keys.

    Blocks of one record and blocks over their cap are dropped; phone and email keys over
    COMMON_KEY_SIZE are returned as common so scoring treats them as shared lines.
    """
    blocks: dict[str, list[int]] = defaultdict(list)
    for index, keys in keyed:
        for key in keys:
            blocks[key].append(index)
    common = {k for k, members in blocks.items() if len(members) > COMMON_KEY_SIZE and k[:2] in ("p:", "e:")}
    usable = {k: m for k, m in blocks.items() if 2 <= len(m) <= block_cap(k)}
    return usable, common


def pairs_from_blocks(blocks: Iterable[list[int]]) -> set[tuple[int, int]]:
    """Distinct index pairs (i < j) of records sharing at least one usable block."""
    pairs: set[tuple[int, int]] = set()
    for members in blocks:
        members = sorted(set(members))
        for position, i in enumerate(members):
            for j in members[position + 1 :]:
                pairs.add((i, j))
    return pairs


def ordered_ids(x: str | int, y: str | int) -> tuple[str | int, str | int]:
    """The two ids smaller first (natural order for ids of one type, text order otherwise)."""
    try:
        return (x, y) if x <= y else (y, x)  # type: ignore[operator]
    except TypeError:
        return (x, y) if str(x) <= str(y) else (y, x)


def find_pairs(
    records: Iterable[Record | Prepared],
    *,
    threshold: int = POSSIBLE,
    keys: Callable[[Prepared], Iterable[str]] = match_keys,
) -> Iterator[tuple[str | int, str | int, Match]]:
    """(a_id, b_id, match) for each candidate pair scoring at least `threshold`, a_id < b_id.

    Candidates come from shared keys only (never all pairs). A key shared by more records than
    its cap (KEY_BLOCK_CAPS) is skipped: those records still meet through their other keys.
    """
    prepared = [_prepared(r) for r in records]
    blocks, common = candidate_blocks((i, keys(p)) for i, p in enumerate(prepared))
    for i, j in sorted(pairs_from_blocks(blocks.values())):
        a, b = prepared[i], prepared[j]
        if a.kind != b.kind or a.id == b.id:
            continue
        match = score_pair(a, b, common_keys=common)
        if match.score >= threshold:
            yield (*ordered_ids(a.id, b.id), match)


# --- Explanations -------------------------------------------------------------------------------

_FIELD_LABELS = {
    "kind": "kind",
    "credit_code": "credit code",
    "id_number": "ID number",
    "birth_date": "birth date",
    "name": "name",
    "contact": "phone/email",
    "email_domain": "email domain",
    "address": "address",
    "city": "city",
    "province": "province",
    "postcode": "postcode",
}
_AGREEMENT_TEMPLATES = {
    "exact": "%(field)s: same",
    "pinyin": "%(field)s: same pinyin",
    "fuzzy": "%(field)s: similar",
    "weak": "%(field)s: unclear",
    "shared": "%(field)s: shared line",
    "conflict": "%(field)s: different",
}


def explain_text(match: Match, translate: Callable[[str], str] | None = None) -> list[str]:
    """One line per evidence item, e.g. 'name: similar (92%) +29', 'birth date: different -40'.

    Field labels and templates are plain English message ids; pass django's gettext as
    `translate` to localise them (the engine itself stays free of Django).
    """
    t = translate or (lambda s: s)
    lines = []
    for item in match.evidence:
        text = t(_AGREEMENT_TEMPLATES[item.agreement]) % {"field": t(_FIELD_LABELS.get(item.field, item.field))}
        if item.similarity is not None and item.agreement in ("fuzzy", "weak", "conflict"):
            text += f" ({item.similarity:.0%})"
        lines.append(f"{text} {item.points:+d}")
    return lines
