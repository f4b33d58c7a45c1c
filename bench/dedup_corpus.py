"""A synthetic customer corpus with known duplicates, for dedup benchmarks and quality checks.

    python bench/dedup_corpus.py --rows 100000 --out /tmp/corpus.csv --truth /tmp/truth.csv

Entities are Chinese and Western companies and persons. Some entities get one or two duplicate
rows carrying the kinds of damage real CRM data has: legal-form and region variants of company
names, full-width characters, traditional characters, pinyin spellings and reordered names,
typos (homophones and random characters), reformatted and dropped phones, changed emails, moved
addresses, missing fields, blank kind. The truth file lists every pair of rows of one entity.

Hard negatives are planted on purpose, because precision is won or lost on them: namesakes (王伟 in
Beijing and 王伟 in Shanghai, and in the same city), family members sharing a home phone and
address, companies sharing a switchboard and a building, branches (…北京分公司) with their own
credit codes, sibling companies (华为技术 / 华为终端), and junk phones used by hundreds of rows.

The generator does not look at the engine; its knobs (`Profile`) decide how hard the data is. A
second profile ("harsh") damages duplicates more, to see how the engine degrades on data it was
not written against.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import random
import sys
from dataclasses import dataclass
from pathlib import Path


def words(text: str) -> list[str]:
    """Word pools are written as one string: easier to read and extend than a list literal."""
    return text.split()


COLUMNS = [
    "external_id",
    "kind",
    "name",
    "phone",
    "mobile",
    "email",
    "address",
    "province",
    "city",
    "postcode",
    "birth_date",
    "id_number",
    "credit_code",
]

# (city, province, area code, postcode prefix, pinyin)
CITIES = [
    ("北京", "北京", "010", "100", "Beijing"),
    ("上海", "上海", "021", "200", "Shanghai"),
    ("广州", "广东", "020", "510", "Guangzhou"),
    ("深圳", "广东", "0755", "518", "Shenzhen"),
    ("东莞", "广东", "0769", "523", "Dongguan"),
    ("佛山", "广东", "0757", "528", "Foshan"),
    ("杭州", "浙江", "0571", "310", "Hangzhou"),
    ("宁波", "浙江", "0574", "315", "Ningbo"),
    ("温州", "浙江", "0577", "325", "Wenzhou"),
    ("南京", "江苏", "025", "210", "Nanjing"),
    ("苏州", "江苏", "0512", "215", "Suzhou"),
    ("无锡", "江苏", "0510", "214", "Wuxi"),
    ("天津", "天津", "022", "300", "Tianjin"),
    ("重庆", "重庆", "023", "400", "Chongqing"),
    ("成都", "四川", "028", "610", "Chengdu"),
    ("武汉", "湖北", "027", "430", "Wuhan"),
    ("西安", "陕西", "029", "710", "Xi'an"),
    ("长沙", "湖南", "0731", "410", "Changsha"),
    ("郑州", "河南", "0371", "450", "Zhengzhou"),
    ("济南", "山东", "0531", "250", "Jinan"),
    ("青岛", "山东", "0532", "266", "Qingdao"),
    ("沈阳", "辽宁", "024", "110", "Shenyang"),
    ("大连", "辽宁", "0411", "116", "Dalian"),
    ("厦门", "福建", "0592", "361", "Xiamen"),
    ("福州", "福建", "0591", "350", "Fuzhou"),
    ("合肥", "安徽", "0551", "230", "Hefei"),
    ("昆明", "云南", "0871", "650", "Kunming"),
    ("南宁", "广西", "0771", "530", "Nanning"),
    ("哈尔滨", "黑龙江", "0451", "150", "Harbin"),
    ("石家庄", "河北", "0311", "050", "Shijiazhuang"),
]
# Bigger cities get more customers.
CITY_WEIGHTS = [10, 10, 7, 8, 3, 3, 6, 3, 2, 5, 5, 2, 4, 4, 5, 5, 4, 3, 3, 2, 3, 2, 2, 2, 2, 2, 2, 1, 2, 2]
CITY_CUM_WEIGHTS = list(itertools.accumulate(CITY_WEIGHTS))
PROVINCE_LONG = {"广西": "广西壮族自治区"}
MUNICIPALITIES = {"北京", "上海", "天津", "重庆"}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤欧阳司马"
# Surname frequencies fall off steeply (王, 李, 张 are a fifth of China).
SURNAME_LIST = [*SURNAMES[:-4], "欧阳", "司马"]
SURNAME_CUM_WEIGHTS = list(itertools.accumulate(max(1.0, 60 / (i + 1) ** 0.9) for i in range(len(SURNAME_LIST))))
GIVEN_CHARS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红飞鹏辉建国文斌宇浩凯婷雪琳晨阳欣怡子涵佳琪梓萱"
    "俊杰志强永健海燕丹晓峰波宁亮成东红梅云龙彬鑫博瑞昊然思远嘉欣雨泽诗琪梦瑶家豪晶莹德福春燕桂芳秋菊"
)
# The 40 commonest full given names: these make the namesakes.
COMMON_GIVEN = words(
    "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀英 霞 平 刚 桂英 华 玉兰 萍 红 飞 鹏 辉 建国 文 斌 宇 浩 凯 婷 雪 琳 晨 阳"
)

BRAND_CHARS = (
    "华中东方新金恒宏鑫博瑞泰通达信德隆盛安康富源丰荣兴远龙凤鹏飞宇天海星光明辉嘉禾佳联创智汇诚信美亚和平"
    "长江正大永利浩森润祥鸿运腾讯科维卓越精英锦绣君诺万豪银河宝聚顺捷凯捷德赛迪讯立邦凌云拓展蓝图青松"
)
INDUSTRIES = [
    "科技",
    "贸易",
    "电子",
    "实业",
    "机械",
    "化工",
    "医药",
    "物流",
    "建筑工程",
    "食品",
    "服装",
    "信息技术",
    "网络科技",
    "电气",
    "新材料",
    "环保科技",
    "投资管理",
    "文化传媒",
    "汽车配件",
    "精密制造",
    "餐饮管理",
    "装饰工程",
    "生物科技",
    "进出口",
    "电子商务",
    "软件",
    "通信设备",
    "塑胶制品",
    "五金",
    "纺织",
]
INDUSTRY_EN = {
    "科技": "Technology",
    "贸易": "Trading",
    "电子": "Electronics",
    "实业": "Industrial",
    "机械": "Machinery",
    "化工": "Chemical",
    "医药": "Pharmaceutical",
    "物流": "Logistics",
    "食品": "Foods",
    "软件": "Software",
    "新材料": "New Materials",
    "信息技术": "Information Technology",
}
HAN_SUFFIXES = ["有限公司", "有限公司", "有限公司", "有限责任公司", "股份有限公司", "集团有限公司", "厂"]
HAN_SUFFIX_VARIANTS = ["有限公司", "有限责任公司", "股份有限公司", "公司", ""]

WESTERN_FIRST = words(
    "James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel Matthew Anthony Mark "
    "Paul Steven Andrew Kenneth Joshua Kevin Brian George Timothy Ronald Jason Edward Jeffrey Ryan Jacob Mary "
    "Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty Margaret Sandra Ashley "
    "Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie Laura Anna Hans Klaus Stefan Pierre Marie Sophie"
)
WESTERN_LAST = words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Wilson Anderson "
    "Thomas Taylor Moore Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker Young Allen King "
    "Wright Scott Hill Green Adams Baker Nelson Carter Mitchell Roberts Turner Phillips Campbell Parker Evans "
    "Edwards Collins Stewart Morris Murphy Cook Rogers Morgan Cooper Peterson Mueller Schmidt Schneider Fischer "
    "Weber Meyer Wagner Becker Dubois Martin Bernard Moreau Laurent"
)
WESTERN_WORDS = words(
    "Acme Global Pacific Atlantic Summit Pioneer Horizon Vertex Quantum Apex Evergreen Silverline Bluewater "
    "Northstar Keystone Redwood Ironbridge Crescent Falcon Harbor Meridian Sterling Oakridge Granite Cobalt "
    "Nimbus Orion Titan Vantage Zenith Alpine Beacon Cascade Delta Ember Fusion Galaxy Helix Insight Jupiter"
)
WESTERN_INDUSTRY = words(
    "Trading Technologies Systems Solutions Logistics Consulting Industries Electronics Pharma Foods Capital "
    "Software Manufacturing Engineering Materials Media Partners Instruments Devices Networks"
)
WESTERN_FORMS = ["Co., Ltd.", "Ltd.", "Limited", "Inc.", "LLC", "GmbH", "Corp.", "Corporation", "Inc", "PLC"]
NICKNAMES = {"Robert": "Bob", "William": "Bill", "Richard": "Dick", "Michael": "Mike", "Elizabeth": "Liz"}

DISTRICTS = words(
    "朝阳区 海淀区 南山区 福田区 天河区 越秀区 西湖区 滨江区 鼓楼区 江北区 高新区 经开区 武侯区 锦江区 城关区 新城区 开发区 浦东新区 静安区 徐汇区"
)
ROADS = words(
    "人民路 解放路 建设路 中山路 和平路 新华路 胜利路 文化路 青年路 长江路 黄河路 滨河路 科技路 创业路 工业大道 "
    "深南大道 建国路 东风路 光明路 学府路 迎宾大道 北京路 南京路 延安路 淮海路 环城路 府前街 幸福街"
)
BUILDINGS = words("国贸大厦 金融中心 科技园 创业园 商务中心 世纪大厦 华融大厦 时代广场 国际大厦 置业广场 工业园 软件园")
WESTERN_STREETS = ["Main Street", "Oak Avenue", "Park Road", "High Street", "Elm Street", "King Road", "Queen Street"]
EMAIL_DOMAINS = ["qq.com", "163.com", "126.com", "sina.com", "gmail.com", "hotmail.com", "outlook.com"]

# Simplified → traditional for the characters the generator uses most.
TRADITIONAL = dict(
    zip(
        "华为东国电贸实业机医药术发张伟刘陈杨黄赵吴孙马郑谢韩冯邓军丽强红兴龙凤飞鹏广达鸿远讯网络气装饰车门长开乐阳云宝贵银铁钢进纺织设备筑计务询传环节农产饮丰荣辉杰静涛艳刚罗许叶苏卢钟谭陆邹熊闫薛贺顾龚钱严汤汇联创诚亚运顺捷赛迪邦蓝图宁汤关协维达顺锦绣诺万聚凯泽诗梦豪晶莹庆区县厂团",
        "華為東國電貿實業機醫藥術發張偉劉陳楊黃趙吳孫馬鄭謝韓馮鄧軍麗強紅興龍鳳飛鵬廣達鴻遠訊網絡氣裝飾車門長開樂陽雲寶貴銀鐵鋼進紡織設備築計務詢傳環節農產飲豐榮輝傑靜濤艷剛羅許葉蘇盧鍾譚陸鄒熊閆薛賀顧龔錢嚴湯匯聯創誠亞運順捷賽迪邦藍圖寧湯關協維達順錦繡諾萬聚凱澤詩夢豪晶瑩慶區縣廠團",
        strict=True,
    )
)
# Characters that sound alike (typed by pinyin input, the commonest Chinese typo).
HOMOPHONES = [
    "为维伟卫位",
    "华化花画",
    "技及继级",
    "电点店典",
    "通同童",
    "科可克",
    "信心新欣",
    "达大答",
    "利力立丽",
    "东冬栋",
    "海还",
    "明名鸣",
    "业叶夜",
    "贸茂冒",
    "宏红洪鸿",
    "恒衡横",
    "金津今",
    "博波伯",
    "瑞锐睿",
    "源元园远",
    "丰风峰锋",
    "晨辰成",
    "静敬晶",
    "敏民闽",
    "军君俊",
    "芳方放",
    "娜纳",
    "磊雷蕾",
]
HOMOPHONE_OF = {c: group for group in HOMOPHONES for c in group}

CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
FULL_WIDTH = {i: i + 0xFEE0 for i in range(0x21, 0x7F)}
FULL_WIDTH[0x20] = 0x3000


@dataclass(frozen=True)
class Profile:
    """How the corpus is damaged. Probabilities per entity or per duplicate row."""

    name: str = "standard"
    duplicate_rate: float = 0.12  # entities with one duplicate row
    second_duplicate_rate: float = 0.03  # entities with two
    perturbations: tuple[int, int] = (1, 4)  # damages per duplicate row
    keep_contact: float = 0.85  # a duplicate keeps at least one phone/email of its original
    move: float = 0.08  # a duplicate moved to another city
    namesake_rate: float = 0.03  # person entities that copy another's name
    family_rate: float = 0.02  # persons sharing home phone and address with a relative
    switchboard_rate: float = 0.03  # companies sharing a switchboard and building with another
    branch_rate: float = 0.01
    sibling_rate: float = 0.01
    junk_phone_rate: float = 0.002  # rows carrying a junk number shared by hundreds


STANDARD = Profile()
HARSH = Profile(
    name="harsh",
    duplicate_rate=0.15,
    second_duplicate_rate=0.05,
    perturbations=(2, 6),
    keep_contact=0.6,
    move=0.2,
    namesake_rate=0.06,
    family_rate=0.04,
    switchboard_rate=0.06,
    branch_rate=0.02,
    sibling_rate=0.02,
    junk_phone_rate=0.005,
)
PROFILES = {p.name: p for p in (STANDARD, HARSH)}


class Generator:
    def __init__(self, seed: int = 1, profile: Profile = STANDARD):
        self.rnd = random.Random(seed)
        self.profile = profile
        self.counter = 0
        self.used_mobiles: set[str] = set()

    # --- building blocks --------------------------------------------------------------------

    def city(self):
        return self.rnd.choices(CITIES, cum_weights=CITY_CUM_WEIGHTS)[0]

    def mobile(self) -> str:
        while True:
            number = self.rnd.choice("3456789") + "".join(self.rnd.choices("0123456789", k=9))
            number = "1" + number
            if number not in self.used_mobiles:
                self.used_mobiles.add(number)
                return number

    def landline(self, city) -> str:
        area = city[2]
        local_len = 8 if len(area) == 3 or self.rnd.random() < 0.8 else 7
        return area + self.rnd.choice("2345678") + "".join(self.rnd.choices("0123456789", k=local_len - 1))

    def address(self, city) -> str:
        r = self.rnd
        text = f"{r.choice(DISTRICTS)}{r.choice(ROADS)}{r.randint(1, 999)}号"
        if r.random() < 0.5:
            text += f"{r.choice(BUILDINGS)}{r.randint(1, 30)}楼{r.randint(1, 30):02d}室"
        return text

    def western_address(self) -> str:
        r = self.rnd
        return f"{r.randint(1, 400)} {r.choice(WESTERN_STREETS)}, Suite {r.randint(100, 2000)}"

    def credit_code(self) -> str:
        r = self.rnd
        first = "91" + "".join(r.choices("0123456789", k=6)) + "".join(r.choices(CREDIT_CHARS, k=9))
        total = sum(CREDIT_CHARS.index(c) * w for c, w in zip(first, CREDIT_WEIGHTS, strict=True))
        return first + CREDIT_CHARS[(31 - total % 31) % 31]

    def id_number(self, birth: str) -> str:
        r = self.rnd
        first = f"{r.randint(110000, 659000)}{birth.replace('-', '')}{r.randint(0, 999):03d}"
        return first + "10X98765432"[sum(int(c) * w for c, w in zip(first, ID_WEIGHTS, strict=True)) % 11]

    def birth(self) -> str:
        r = self.rnd
        return f"{r.randint(1950, 2003)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"

    def han_person_name(self) -> str:
        r = self.rnd
        surname = r.choices(SURNAME_LIST, cum_weights=SURNAME_CUM_WEIGHTS)[0]
        if r.random() < 0.35:
            return surname + r.choice(COMMON_GIVEN)
        given = r.choice(GIVEN_CHARS) + (r.choice(GIVEN_CHARS) if r.random() < 0.7 else "")
        return surname + given

    def next_id(self) -> str:
        self.counter += 1
        return f"R{self.counter:08d}"

    # --- entities -----------------------------------------------------------------------------

    def chinese_company(self) -> dict:
        r = self.rnd
        city = self.city()
        brand = r.choice(BRAND_CHARS) + r.choice(BRAND_CHARS)
        if r.random() < 0.2:
            brand += r.choice(BRAND_CHARS)
        industry = r.choice(INDUSTRIES)
        prefix = r.choice(["", "", city[0], city[0] + "市"])
        return {
            "kind": "company",
            "western": False,
            "brand": brand,
            "industry": industry,
            "name": prefix + brand + industry + r.choice(HAN_SUFFIXES),
            "phone": self.landline(city) if r.random() < 0.9 else "",
            "mobile": self.mobile() if r.random() < 0.3 else "",
            "email": f"{r.choice(['info', 'sales', 'contact', 'admin', 'hr'])}@{self.pinyin_slug(brand)}{r.randint(1, 999)}.com"
            if r.random() < 0.5
            else "",
            "address": self.address(city),
            "city": city,
            "birth_date": "",
            "id_number": "",
            "credit_code": self.credit_code() if r.random() < 0.6 else "",
        }

    def western_company(self) -> dict:
        r = self.rnd
        city = self.city()
        words = [r.choice(WESTERN_WORDS), r.choice(WESTERN_INDUSTRY)]
        if r.random() < 0.3:
            words.insert(1, r.choice(WESTERN_WORDS))
        core = " ".join(words)
        return {
            "kind": "company",
            "western": True,
            "core": core,
            "name": f"{core} {r.choice(WESTERN_FORMS)}",
            "phone": self.landline(city) if r.random() < 0.8 else "",
            "mobile": self.mobile() if r.random() < 0.2 else "",
            "email": f"{r.choice(['info', 'sales', 'office'])}@{words[0].lower()}{r.randint(1, 9999)}.com"
            if r.random() < 0.6
            else "",
            "address": self.western_address() if r.random() < 0.5 else self.address(city),
            "city": city,
            "birth_date": "",
            "id_number": "",
            "credit_code": self.credit_code() if r.random() < 0.4 else "",
        }

    def chinese_person(self) -> dict:
        r = self.rnd
        city = self.city()
        birth = self.birth()
        name = self.han_person_name()
        return {
            "kind": "person",
            "western": False,
            "name": name,
            "phone": self.landline(city) if r.random() < 0.15 else "",
            "mobile": self.mobile() if r.random() < 0.9 else "",
            "email": f"{self.pinyin_slug(name)}{r.randint(1, 9999)}@{r.choice(EMAIL_DOMAINS)}"
            if r.random() < 0.4
            else "",
            "address": self.address(city) if r.random() < 0.7 else "",
            "city": city,
            "birth_date": birth if r.random() < 0.5 else "",
            "id_number": self.id_number(birth) if r.random() < 0.35 else "",
            "credit_code": "",
        }

    def western_person(self) -> dict:
        r = self.rnd
        city = self.city()
        first, last = r.choice(WESTERN_FIRST), r.choice(WESTERN_LAST)
        return {
            "kind": "person",
            "western": True,
            "first": first,
            "last": last,
            "name": f"{first} {last}",
            "phone": self.landline(city) if r.random() < 0.2 else "",
            "mobile": self.mobile() if r.random() < 0.8 else "",
            "email": f"{first.lower()}.{last.lower()}{r.randint(1, 999)}@{r.choice(EMAIL_DOMAINS)}"
            if r.random() < 0.6
            else "",
            "address": self.western_address() if r.random() < 0.6 else "",
            "city": city,
            "birth_date": self.birth() if r.random() < 0.3 else "",
            "id_number": "",
            "credit_code": "",
        }

    @staticmethod
    def pinyin_slug(text: str) -> str:
        from pypinyin import lazy_pinyin

        return "".join(lazy_pinyin(text))

    # --- hard negatives -------------------------------------------------------------------------

    def namesake(self, person: dict) -> dict:
        """Another person with the same name: elsewhere, or in the same city."""
        other = self.chinese_person() if not person["western"] else self.western_person()
        other["name"] = person["name"]
        if self.rnd.random() < 0.4:
            other["city"] = person["city"]
        return other

    def family_member(self, person: dict) -> dict:
        r = self.rnd
        other = self.chinese_person() if not person["western"] else self.western_person()
        if not person["western"]:
            surname = person["name"][:2] if person["name"][:2] in ("欧阳", "司马") else person["name"][0]
            other["name"] = surname + r.choice(GIVEN_CHARS) + (r.choice(GIVEN_CHARS) if r.random() < 0.6 else "")
        else:
            other["name"] = f"{r.choice(WESTERN_FIRST)} {person['last']}"
        if not person["phone"]:
            person["phone"] = self.landline(person["city"])
        other.update(
            phone=person["phone"], address=person["address"] or self.address(person["city"]), city=person["city"]
        )
        person["address"] = other["address"]
        if r.random() < 0.3 and person["email"]:
            other["email"] = person["email"]  # a family mailbox
        return other

    def switchboard_neighbour(self, company: dict) -> dict:
        other = self.western_company() if company["western"] else self.chinese_company()
        if not company["phone"]:
            company["phone"] = self.landline(company["city"])
        other.update(phone=company["phone"], address=company["address"], city=company["city"])
        return other

    def branch(self, company: dict) -> dict:
        r = self.rnd
        other = dict(company)
        city = self.city()
        if company["western"]:
            other["name"] = f"{company['core']} {r.choice(WESTERN_FORMS)} {city[4]} Branch"
        else:
            other["name"] = company["brand"] + company["industry"] + "有限公司" + city[0] + "分公司"
        other.update(
            city=city,
            phone=self.landline(city),
            mobile="",
            address=self.address(city),
            credit_code=self.credit_code() if r.random() < 0.7 else "",
            email="",
        )
        return other

    def sibling(self, company: dict) -> dict:
        """Same brand, another line of business, same city, often the group switchboard."""
        r = self.rnd
        other = self.chinese_company() if not company["western"] else self.western_company()
        if not company["western"]:
            industry = r.choice([i for i in INDUSTRIES if i != company["industry"]])
            other.update(brand=company["brand"], industry=industry, name=company["brand"] + industry + "有限公司")
        else:
            words = company["core"].split()
            other["core"] = f"{words[0]} {r.choice([w for w in WESTERN_INDUSTRY if w != words[-1]])}"
            other["name"] = f"{other['core']} {r.choice(WESTERN_FORMS)}"
        other["city"] = company["city"]
        if r.random() < 0.5 and company["phone"]:
            other["phone"] = company["phone"]
        return other

    # --- damage -------------------------------------------------------------------------------

    def typo(self, text: str) -> str:
        r = self.rnd
        if len(text) < 3:
            return text
        i = r.randrange(len(text))
        c = text[i]
        if c in HOMOPHONE_OF and r.random() < 0.7:
            return text[:i] + r.choice([h for h in HOMOPHONE_OF[c] if h != c]) + text[i + 1 :]
        if c.isascii() and c.isalpha():
            kind = r.random()
            if kind < 0.4 and i + 1 < len(text) and text[i + 1].isalpha():
                return text[:i] + text[i + 1] + c + text[i + 2 :]
            if kind < 0.7:
                return text[:i] + r.choice("abcdefghijklmnopqrstuvwxyz") + text[i + 1 :]
            return text[:i] + text[i + 1 :]
        if "\u4e00" <= c <= "\u9fff":
            return text[:i] + r.choice(GIVEN_CHARS + BRAND_CHARS) + text[i + 1 :]
        return text

    def traditional(self, text: str) -> str:
        return "".join(TRADITIONAL.get(c, c) for c in text)

    def full_width(self, text: str) -> str:
        return text.translate(FULL_WIDTH)

    def format_phone(self, number: str) -> str:
        r = self.rnd
        if not number:
            return number
        if number.startswith("1") and len(number) == 11:
            style = r.randrange(6)
            return [
                number,
                f"+86 {number[:3]} {number[3:7]} {number[7:]}",
                f"0086-{number}",
                f"{number[:3]}-{number[3:7]}-{number[7:]}",
                f"86{number}",
                self.full_width(number),
            ][style]
        area_len = 3 if number[:3] in ("010", "020", "021", "022", "023", "024", "025", "027", "028", "029") else 4
        area, local = number[:area_len], number[area_len:]
        style = r.randrange(6)
        return [
            number,
            f"{area}-{local}",
            f"({area}){local[:4]}-{local[4:]}",
            f"+86 {area[1:]} {local}",
            f"{area} {local[:4]} {local[4:]}",
            f"{area}-{local}转{r.randint(100, 8999)}",
        ][style]

    def rename_company(self, row: dict, entity: dict) -> str:
        r = self.rnd
        if entity["western"]:
            core = entity["core"]
            choice = r.random()
            if choice < 0.35:
                return f"{core} {r.choice(WESTERN_FORMS)}"
            if choice < 0.5:
                return f"{core.upper()}, {r.choice(WESTERN_FORMS)}"
            if choice < 0.65:
                return f"{core} (China) {r.choice(['Co., Ltd.', 'Ltd.', 'Limited'])}"
            if choice < 0.85:
                return f"{self.typo(core)} {r.choice(WESTERN_FORMS)}"
            return f"The {core} {r.choice(WESTERN_FORMS)}"
        city = entity["city"][0]
        core = entity["brand"] + entity["industry"]
        choice = r.random()
        if choice < 0.25:
            return r.choice(["", city, city + "市"]) + core + r.choice(HAN_SUFFIX_VARIANTS)
        if choice < 0.4:
            return core + f"（{city}）" + r.choice(["有限公司", "有限责任公司"])
        if choice < 0.55:
            return self.traditional(r.choice(["", city]) + core + r.choice(["有限公司", "股份有限公司"]))
        if choice < 0.75:
            return self.typo(core) + r.choice(HAN_SUFFIX_VARIANTS)
        if choice < 0.85:
            return self.full_width(r.choice(["", city]) + core) + "有限公司"
        if choice < 0.93 and entity["industry"] in INDUSTRY_EN:
            # An English name for a Chinese company: pinyin brand, translated industry.
            return f"{entity['city'][4]} {self.pinyin_slug(entity['brand']).capitalize()} {INDUSTRY_EN[entity['industry']]} Co., Ltd."
        return core + "有限公司"

    def rename_person(self, row: dict, entity: dict) -> str:
        r = self.rnd
        if entity["western"]:
            first, last = entity["first"], entity["last"]
            choice = r.random()
            if choice < 0.3:
                return f"{last}, {first}"
            if choice < 0.5:
                return f"{first.upper()} {last.upper()}"
            if choice < 0.75:
                return f"{self.typo(first)} {last}" if r.random() < 0.5 else f"{first} {self.typo(last)}"
            if choice < 0.85:
                return f"{first} {r.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
            if choice < 0.93 and first in NICKNAMES:
                return f"{NICKNAMES[first]} {last}"
            return f"{last} {first}"
        name = entity["name"]
        choice = r.random()
        if choice < 0.25:
            return self.traditional(name)
        if choice < 0.55:
            from pypinyin import lazy_pinyin

            syllables = lazy_pinyin(name)
            size = 2 if name[:2] in ("欧阳", "司马") else 1
            surname = "".join(syllables[:size]).capitalize()
            given = "".join(syllables[size:]).capitalize()
            style = r.randrange(4)
            return [f"{surname} {given}", f"{given} {surname}", f"{surname.upper()} {given}", f"{surname}, {given}"][
                style
            ]
        if choice < 0.75:
            return self.typo(name) if len(name) >= 3 else name[0] + r.choice(HOMOPHONE_OF.get(name[1], name[1]))
        if choice < 0.85:
            return " ".join(name)
        return name

    def move(self, row: dict, entity: dict) -> None:
        city = self.city()
        row["city"] = city
        row["address"] = self.address(city)
        if row["phone"] and self.rnd.random() < 0.7:
            row["phone"] = self.landline(city)

    def damage(self, entity: dict) -> dict:
        """A duplicate row of `entity`."""
        r = self.rnd
        p = self.profile
        row = dict(entity)
        damages = r.randint(*p.perturbations)
        operations = r.sample(
            ["name", "name", "phones", "email", "address", "drop", "drop", "kind", "ids", "dates", "place"],
            k=min(damages, 11),
        )
        if r.random() < p.move:
            self.move(row, entity)
        for op in operations:
            if op == "name":
                row["name"] = (self.rename_company if entity["kind"] == "company" else self.rename_person)(row, entity)
            elif op == "phones":
                row["phone"] = self.format_phone(row["phone"])
                row["mobile"] = self.format_phone(row["mobile"])
                if r.random() < 0.3:
                    row["phone"], row["mobile"] = row["mobile"], row["phone"]
            elif op == "email":
                if row["email"]:
                    row["email"] = row["email"].upper() if r.random() < 0.5 else ""
                elif r.random() < 0.5:
                    row["email"] = f"x{r.randint(1, 99999)}@{r.choice(EMAIL_DOMAINS)}"
            elif op == "address" and row["address"] and row["city"]:
                city = row["city"]
                choice = r.random()
                if choice < 0.3:
                    province = "" if city[1] in MUNICIPALITIES else PROVINCE_LONG.get(city[1], city[1] + "省")
                    row["address"] = province + city[0] + "市" + row["address"]
                elif choice < 0.5:
                    row["address"] = self.full_width(row["address"])
                elif choice < 0.7:
                    row["address"] = row["address"].replace("区", "", 1).replace("号", "")
                elif choice < 0.85:
                    row["address"] = self.typo(row["address"])
                else:
                    row["address"] = self.address(city)
            elif op == "drop":
                field = r.choice(
                    ["phone", "mobile", "email", "address", "birth_date", "id_number", "credit_code", "city"]
                )
                row[field] = ""
            elif op == "kind":
                row["kind"] = r.choice(["", "", "公司" if entity["kind"] == "company" else "个人"])
            elif op == "ids":
                if row["id_number"] and r.random() < 0.5:
                    row["id_number"] = (
                        row["id_number"].lower()
                        if r.random() < 0.5
                        else " ".join([row["id_number"][:6], row["id_number"][6:14], row["id_number"][14:]])
                    )
                elif row["credit_code"]:
                    row["credit_code"] = row["credit_code"].lower()
            elif op == "dates" and row["birth_date"]:
                y, m, d = row["birth_date"].split("-")
                row["birth_date"] = r.choice(
                    [f"{y}/{int(m)}/{int(d)}", f"{y}年{int(m)}月{int(d)}日", f"{y}{m}{d}", f"{d}/{m}/{y}"]
                )
            elif op == "place":
                city = row["city"]
                if city:
                    row["province"] = r.choice([city[1], city[1] + "省", ""])
        # A duplicate shares at least one contact point with its original most of the time.
        if r.random() < p.keep_contact and not self._shares_contact(row, entity):
            field = r.choice([f for f in ("mobile", "phone", "email") if entity[f]] or ["mobile"])
            if entity[field]:
                row[field] = self.format_phone(entity[field]) if field != "email" else entity[field]
        return row

    @staticmethod
    def _shares_contact(row: dict, entity: dict) -> bool:
        digits = lambda s: "".join(c for c in s if c.isdigit())[-8:]  # noqa: E731
        phones = {digits(entity["phone"]), digits(entity["mobile"])} - {""}
        return bool(phones & {digits(row["phone"]), digits(row["mobile"])}) or (
            entity["email"] and row["email"].lower() == entity["email"]
        )

    # --- output -------------------------------------------------------------------------------

    def to_csv_row(self, row: dict, external_id: str) -> list[str]:
        r = self.rnd
        city = row["city"]
        if city:
            city_text = city[0] if r.random() < 0.7 else (city[0] + "市" if r.random() < 0.6 else city[4])
            province = row.get("province") if row.get("province") is not None else city[1]
            postcode = city[3] + f"{r.randint(0, 999):03d}" if r.random() < 0.4 else ""
        else:
            city_text, province, postcode = "", "", ""
        return [
            external_id,
            row["kind"],
            row["name"],
            row["phone"],
            row["mobile"],
            row["email"],
            row["address"],
            province,
            city_text,
            postcode,
            row["birth_date"],
            row["id_number"],
            row["credit_code"],
        ]

    def generate(self, rows: int) -> tuple[list[list[str]], set[tuple[str, str]]]:
        """`rows` CSV rows (without header) and the set of true duplicate pairs (a < b)."""
        r = self.rnd
        p = self.profile
        out: list[list[str]] = []
        truth: set[tuple[str, str]] = set()
        junk = ["13800000000", "00000000", "4008208820"]
        persons: list[dict] = []
        companies: list[dict] = []
        while len(out) < rows:
            kind_roll = r.random()
            if kind_roll < 0.40:
                entity = self.chinese_company()
                companies.append(entity)
            elif kind_roll < 0.50:
                entity = self.western_company()
                companies.append(entity)
            elif kind_roll < 0.88:
                entity = self.chinese_person()
                persons.append(entity)
            else:
                entity = self.western_person()
                persons.append(entity)
            if len(persons) > 2000:
                persons = persons[-1000:]
            if len(companies) > 2000:
                companies = companies[-1000:]
            # Hard negatives: separate entities that look alike. Chosen first, because a family
            # member or a switchboard neighbour also changes the entity (a shared home phone).
            negative = None
            roll = r.random()
            if entity["kind"] == "person" and len(persons) > 1:
                if roll < p.namesake_rate:
                    negative = self.namesake(r.choice(persons))
                elif roll < p.namesake_rate + p.family_rate:
                    negative = self.family_member(entity)
            elif entity["kind"] == "company":
                if roll < p.switchboard_rate:
                    negative = self.switchboard_neighbour(entity)
                elif roll < p.switchboard_rate + p.branch_rate:
                    negative = self.branch(entity)
                elif roll < p.switchboard_rate + p.branch_rate + p.sibling_rate:
                    negative = self.sibling(entity)
            variants = [entity]
            roll = r.random()
            if roll < p.second_duplicate_rate:
                variants += [self.damage(entity), self.damage(entity)]
            elif roll < p.second_duplicate_rate + p.duplicate_rate:
                variants.append(self.damage(entity))
            ids = []
            for variant in variants:
                external_id = self.next_id()
                if r.random() < p.junk_phone_rate:
                    variant = dict(variant, phone=r.choice(junk))
                out.append(self.to_csv_row(variant, external_id))
                ids.append(external_id)
            for i, a in enumerate(ids):
                for b in ids[i + 1 :]:
                    truth.add((a, b) if a < b else (b, a))
            if negative is not None:
                (persons if negative["kind"] == "person" else companies).append(negative)
                out.append(self.to_csv_row(negative, self.next_id()))
        del out[rows:]
        kept = {row[0] for row in out}
        truth = {(a, b) for a, b in truth if a in kept and b in kept}
        # Shuffle so duplicates are not neighbours in the file.
        r.shuffle(out)
        return out, truth


def write_csv(path: Path | str, rows: list[list[str]], encoding: str = "utf-8") -> None:
    """Write the corpus; encoding 'utf-8', 'utf-8-sig' (Excel) or 'gb18030'/'gbk' (Chinese Windows)."""
    with open(
        path, "w", encoding=encoding, newline="", errors="replace" if encoding in ("gbk", "gb2312") else "strict"
    ) as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def write_truth(path: Path | str, truth: set[tuple[str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["external_id_a", "external_id_b"])
        writer.writerows(sorted(truth))


def build(rows: int, seed: int = 1, profile: str = "standard") -> tuple[list[list[str]], set[tuple[str, str]]]:
    return Generator(seed, PROFILES[profile]).generate(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="standard")
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--out", required=True)
    parser.add_argument("--truth")
    args = parser.parse_args(argv)
    rows, truth = build(args.rows, args.seed, args.profile)
    write_csv(args.out, rows, args.encoding)
    if args.truth:
        write_truth(args.truth, truth)
    print(f"{len(rows)} rows, {len(truth)} true pairs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
