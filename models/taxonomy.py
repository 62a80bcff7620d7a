"""Fixed vocabularies, each code with its Chinese and English label."""

from __future__ import annotations

import functools

from models.text import fold

SECTORS: dict[str, tuple[str, str]] = {
    "ai": ("人工智能", "AI"),
    "smart_manufacturing": ("智能制造", "smart manufacturing"),
    "biomedicine": ("生物医药", "biomedicine"),
    "medical_devices": ("医疗器械", "medical devices"),
    "new_energy": ("新能源", "new energy"),
    "new_materials": ("新材料", "new materials"),
    "semiconductors": ("集成电路", "semiconductors"),
    "enterprise_software": ("企业服务", "enterprise software"),
    "ecommerce": ("电子商务", "e-commerce"),
    "consumer": ("消费品", "consumer goods"),
    "fintech": ("金融科技", "fintech"),
    "education": ("教育", "education"),
    "agriculture": ("现代农业", "agritech"),
    "cultural_creative": ("文化创意", "cultural & creative"),
    "environmental": ("节能环保", "environmental"),
    "logistics": ("物流", "logistics"),
    "digital_health": ("数字健康", "digital health"),
    "robotics": ("机器人", "robotics"),
    "iot": ("物联网", "IoT"),
    "automotive": ("汽车与出行", "automotive & mobility"),
    "media": ("传媒与内容", "media & content"),
    "real_estate": ("建筑与地产科技", "proptech & construction"),
    "security": ("网络安全", "cybersecurity"),
    "other": ("其他", "other"),
}

# Words that name a sector but share no word with its labels (电商 is 电子商务), for search: a query word here finds
# the sector's projects and investors. Synonyms and abbreviations only, never a part of a sector (储能 is not all
# of new energy). Keys as `fold` and lower case leave them.
SECTOR_ALIASES: dict[str, str] = {
    "电商": "ecommerce", "芯片": "semiconductors", "半导体": "semiconductors", "文创": "cultural_creative",
    "企服": "enterprise_software", "网安": "security", "医械": "medical_devices", "创新药": "biomedicine",
    "数字医疗": "digital_health", "互联网医疗": "digital_health",
    "chip": "semiconductors", "biotech": "biomedicine", "pharma": "biomedicine", "medtech": "medical_devices",
    "healthtech": "digital_health", "edtech": "education", "agtech": "agriculture", "cleantech": "environmental",
    "greentech": "environmental", "infosec": "security", "insurtech": "fintech", "regtech": "fintech",
}


# Ordered: position is used for "stage fit" distances.
STAGES: dict[str, tuple[str, str]] = {
    "idea": ("创意", "idea"),
    "prototype": ("原型", "prototype"),
    "seed": ("种子轮", "seed"),
    "angel": ("天使轮", "angel"),
    "pre-a": ("Pre-A轮", "pre-A"),
    "a": ("A轮", "series A"),
    "b+": ("B轮及以后", "series B+"),
}
STAGE_ORDER = {code: i for i, code in enumerate(STAGES)}

INVESTOR_KINDS: dict[str, tuple[str, str]] = {
    "individual_angel": ("个人天使", "individual angel"),
    "angel_group": ("天使投资团体", "angel group"),
    "vc_fund": ("风险投资基金", "VC fund"),
    "bank": ("银行", "bank"),
    "guarantee": ("融资担保", "guarantee firm"),
    "insurance": ("保险", "insurance"),
    "microcredit": ("小额贷款", "micro-credit"),
}

FOUNDER_BACKGROUNDS: dict[str, tuple[str, str]] = {
    "student": ("在校学生及应届毕业生", "student or young graduate"),
    "corporate": ("大企业离职创业", "ex-corporate staff"),
    "overseas_returnee": ("海归", "overseas returnee"),
    "researcher": ("科研人员", "researcher"),
}


def label(vocabulary: dict[str, tuple[str, str]], code: str, lang: str = "en") -> str:
    zh, en = vocabulary[code]
    return zh if lang == "zh" else en


def bilingual(vocabulary: dict[str, tuple[str, str]], code: str) -> str:
    zh, en = vocabulary[code]
    return f"{zh}/{en}"


# English spellings of the cities this service sees most, so that "Hangzhou" and "杭州" are one city.
# Cities are stored as entered; comparisons go through `city_key`.
CITY_ALIASES: dict[str, str] = {
    "hangzhou": "杭州", "ningbo": "宁波", "wenzhou": "温州", "shaoxing": "绍兴", "jiaxing": "嘉兴",
    "huzhou": "湖州", "jinhua": "金华", "taizhou": "台州", "yiwu": "义乌", "lishui": "丽水", "quzhou": "衢州",
    "zhoushan": "舟山", "shanghai": "上海", "beijing": "北京", "shenzhen": "深圳", "suzhou": "苏州",
    "nanjing": "南京", "guangzhou": "广州", "hefei": "合肥", "wuhan": "武汉", "chengdu": "成都",
}


@functools.lru_cache(maxsize=4096)  # a feed compares a few hundred pairs' cities; the names repeat
def city_key(city: str) -> str:
    """A comparable form of a city name: '杭州', '杭州市', 'Hangzhou' and 'hangzhou city' are equal, as are '廣州'
    and '广州' (`fold`)."""
    name = fold(city).strip().lower().removesuffix(" city").removesuffix("市").strip()
    return CITY_ALIASES.get(name, name)
