"""The cohort's chest notes and radiology reports written in Chinese (chapter 03's section on Chinese notes).

``generate_cohort(config, lang="zh")`` gives the same patients, visits, findings, labels, images and ECGs as the
English cohort; only the text of the chest notes and reports is Chinese. That holds because every Chinese phrase
table here is *parallel* to its English table in ``cohort``: the same keys, the same number of entries in the same
order, the same placeholders with the same meaning. ``write_note_zh`` and ``write_report_zh`` draw exactly the
random numbers that ``write_note`` and ``write_report`` draw, in the same order (a draw picks an index, and the
index picks the phrase in either language); ``tests/test_chinese.py`` checks that the generator's state after a
Chinese note equals its state after the English one.

Typing errors: the English note swaps letters of a few words (``synthetic.typo``). A Chinese note is typed with a
pinyin input method, whose slips are homophones (咳嗽 -> 咳漱, 水肿 -> 水种). ``write_note_zh`` runs ``typo`` on the
parallel English text (so that it draws the same numbers) and, for every word that the English text got wrong,
puts one homophone slip from ``HOMOPHONE_TYPOS`` into the Chinese part, where one fits.

Identifiers are Chinese in style: names such as 王秀英 (the English name's first and last name map to a Chinese
given name and surname, index for index), dates such as 2022年3月31日, mobile numbers such as 13812345678,
hospitals such as 第一人民医院. Their spans are recorded like the English ones (``text[start:end]`` is the
identifier). The cardiac, movement and triage questions keep their English texts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crossmodal_lib.data import cohort
from crossmodal_lib.data.synthetic import choice, typo

LANGS = ("en", "zh")

# --------------------------------------------------------------------------------------------------------------
# Phrase tables, parallel to cohort's (same keys, lengths, order and placeholders)
# --------------------------------------------------------------------------------------------------------------
# Given names and surnames, index for index with cohort.FIRST_NAMES / LAST_NAMES (a compound surname, 欧阳, stands
# where the English table has O'Brien). The pinyin spells the e-mail addresses.
FIRST_NAMES_ZH = (
    "伟",
    "秀英",
    "强",
    "桂英",
    "明",
    "丽",
    "军",
    "敏",
    "建国",
    "淑珍",
    "磊",
    "芳",
    "志强",
    "静",
    "浩然",
    "雪梅",
    "勇",
    "玉兰",
    "海涛",
    "红霞",
    "杰",
    "婷婷",
)
FIRST_NAMES_PINYIN = (
    "wei",
    "xiuying",
    "qiang",
    "guiying",
    "ming",
    "li",
    "jun",
    "min",
    "jianguo",
    "shuzhen",
    "lei",
    "fang",
    "zhiqiang",
    "jing",
    "haoran",
    "xuemei",
    "yong",
    "yulan",
    "haitao",
    "hongxia",
    "jie",
    "tingting",
)
LAST_NAMES_ZH = (
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "赵",
    "黄",
    "周",
    "吴",
    "徐",
    "孙",
    "胡",
    "朱",
    "高",
    "林",
    "何",
    "欧阳",
    "郭",
    "马",
)
LAST_NAMES_PINYIN = (
    "wang",
    "li",
    "zhang",
    "liu",
    "chen",
    "yang",
    "zhao",
    "huang",
    "zhou",
    "wu",
    "xu",
    "sun",
    "hu",
    "zhu",
    "gao",
    "lin",
    "he",
    "ouyang",
    "guo",
    "ma",
)
DOCTORS_ZH = ("张伟", "刘芳", "陈静", "杨帆", "赵磊", "黄敏")

POSITIVE_ZH = {
    "infection": (
        "发热，体温最高{t}",
        "发热{d}天",
        "自述畏寒、寒战",
        "咳嗽，咳绿色痰",
        "咳脓痰",
        "夜间高热",
        "在家发热至{t}",
        "咳黄痰",
    ),
    "congestion": (
        "需垫{p}个枕头才能入睡",
        "端坐呼吸",
        "多数夜间出现夜间阵发性呼吸困难",
        "双侧踝部肿胀",
        "双下肢凹陷性水肿",
        "本周体重增加{k}公斤",
        "双腿肿",
        "足部水肿",
    ),
    "constitutional": (
        "不明原因体重下降{k}公斤",
        "咳血",
        "咯血{d}天",
        "盗汗伴体重减轻",
        "{m}个月内体重下降{k}公斤",
        "痰中带血",
        "咯血",
    ),
}
NEGATIVE_ZH = {
    "infection": ("否认发热", "不发烧", "无畏寒", "无咳痰", "无发热及寒战"),
    "congestion": ("无端坐呼吸", "否认下肢肿胀", "无夜间阵发性呼吸困难", "未见外周水肿", "体重稳定"),
    "constitutional": ("否认体重下降", "未咯血", "没有盗汗", "食欲好，体重稳定"),
}
NONSPECIFIC_ZH = (
    "活动后气促",
    "干咳",
    "自觉疲倦",
    "轻度胸闷",
    "气短",
    "爬楼梯时呼吸困难",
    "乏力",
    "咳嗽{d}天",
    "呼吸困难",
    "间断喘息",
)
COMPLAINTS_ZH = ("气短", "咳嗽", "身体不适", "胸部不适", "复诊", "气喘", "常规复查", "疲倦")
HISTORY_ZH = (
    "高血压",
    "2型糖尿病",
    "慢阻肺",
    "哮喘",
    "高胆固醇血症",
    "慢性肾病3期",
    "房颤",
    "甲状腺功能减退",
    "陈旧性心肌梗死",
    "胃食管反流病",
    "骨关节炎",
)
IRRELEVANT_ZH = (
    "女儿在床旁陪护。",
    "已讨论流感疫苗接种。",
    "患者询问停车费报销事宜。",
    "与配偶同住，日常生活可自理。",
    "退休教师。",
    "青霉素过敏（皮疹）。",
    "喜欢园艺。",
    "无需翻译。",
    "拒绝社工转介。",
    "家中养狗。",
    "希望预约上午门诊。",
    "已告知近亲属最新情况。",
)
REPORT_POSITIVE_ZH = {
    "opacity": (
        "{side}{zone}肺野斑片状密度增高影",
        "{side}{zone}肺野气腔实变影",
        "{side}{zone}肺野实变，感染或肺不张可能",
        "{side}肺底模糊密度增高影",
    ),
    "cardiomegaly": ("心脏增大", "心影扩大", "心脏增大，心胸比约{ctr}", "心影似增大（前后位片）"),
    "effusion": ("{side}侧少量胸腔积液", "{side}侧肋膈角变钝", "可疑少量积液"),
    "nodule": (
        "{side}{zone}肺野见{mm}毫米结节",
        "{side}{zone}肺野类圆形密度增高影，可疑结节",
        "{side}肺小结节，建议CT检查",
    ),
}
REPORT_NEGATIVE_ZH = {
    "opacity": ("未见局灶性实变", "双肺清晰", "未见气腔实变影"),
    "cardiomegaly": ("心影大小正常", "心影在正常范围内"),
    "effusion": ("未见胸腔积液", "双侧肋膈角锐利"),
    "nodule": ("未见可疑结节", "未见肿块"),
}
# The report's first line and its closing sentences, parallel to write_report's.
REPORT_VIEWS_ZH = ("胸部后前位片。", "胸部前后位片。", "胸片，单一体位。", "胸部X线后前位。")
REPORT_VIEWS = ("PA chest radiograph.", "AP chest film.", "CXR, single view.", "Chest X-ray PA.")
_NO_ACUTE_ZH = "心肺未见急性病变。"
_CORRELATION_ZH = "建议结合临床。"
# {side} and {zone} of the phrases, parallel to _fill's ("left", "right") and ("lower", "mid", "upper").
_SIDES_ZH = ("左", "右")
_ZONES_ZH = ("下", "中", "上")

# Identifier tables, parallel to cohort's private ones (the identifiers come from their own random stream, so
# only the sentences' table needs to stay parallel: it decides whether a date may be relative or lie ahead).
HOSPITALS_ZH = (
    "第一人民医院",
    "市中心医院",
    "北城社区卫生服务中心",
    "湖滨医院",
    "康宁护理院",
    "东门人民医院",
)
STREETS_ZH = ("人民路", "解放路", "中山路", "建设路", "和平街", "长江路")
TOWNS_ZH = ("东城区", "西湖区", "江北区", "南山区", "城关镇", "高新区")
RELATIVES_ZH = ("女儿", "儿子", "妻子", "丈夫", "妹妹", "弟弟", "邻居")
MAIL_DOMAINS_ZH = ("163.com", "qq.com", "126.com", "sina.com")
WEEKDAYS_ZH = ("一", "二", "三", "四", "五", "六", "日")
MOBILE_PREFIXES = ("138", "139", "135", "186", "150", "177", "133", "189")
IDENTIFIER_SENTENCES_ZH = (
    "由{rel}{NAME}陪同就诊。",
    "生命体征由护士{NAME}测量。",
    "{rel}{NAME}的联系电话为{PHONE}。",
    "联系电话{PHONE}。",
    "由{HOSPITAL}转诊。",
    "曾于{DATE}在{HOSPITAL}住院。",
    "与{rel}同住于{ADDRESS}。",
    "症状始于{DATE}。",
    "检查结果抄送{EMAIL}。",
    "{DATE}至{NAME}医生处复诊。",
)
# Pinyin-input slips: a word and the homophone typed instead (chosen in this order where the text has the word).
HOMOPHONE_TYPOS = {
    "咳嗽": "咳漱",
    "水肿": "水种",
    "呼吸": "呼息",
    "体重": "体种",
    "胸闷": "胸们",
    "乏力": "乏利",
    "盗汗": "到汗",
    "寒战": "寒颤",
    "肿胀": "肿涨",
    "喘息": "喘吸",
    "疲倦": "疲卷",
    "枕头": "枕投",
}

# Each Chinese table next to the English table it mirrors (what tests/test_chinese.py checks).
PARALLEL_TABLES: dict[str, tuple[object, object]] = {
    "FIRST_NAMES": (cohort.FIRST_NAMES, FIRST_NAMES_ZH),
    "LAST_NAMES": (cohort.LAST_NAMES, LAST_NAMES_ZH),
    "DOCTORS": (cohort.DOCTORS, DOCTORS_ZH),
    "POSITIVE": (cohort.POSITIVE, POSITIVE_ZH),
    "NEGATIVE": (cohort.NEGATIVE, NEGATIVE_ZH),
    "NONSPECIFIC": (cohort.NONSPECIFIC, NONSPECIFIC_ZH),
    "COMPLAINTS": (cohort.COMPLAINTS, COMPLAINTS_ZH),
    "HISTORY": (cohort.HISTORY, HISTORY_ZH),
    "IRRELEVANT": (cohort.IRRELEVANT, IRRELEVANT_ZH),
    "REPORT_POSITIVE": (cohort.REPORT_POSITIVE, REPORT_POSITIVE_ZH),
    "REPORT_NEGATIVE": (cohort.REPORT_NEGATIVE, REPORT_NEGATIVE_ZH),
    "IDENTIFIER_SENTENCES": (cohort._IDENTIFIER_SENTENCES, IDENTIFIER_SENTENCES_ZH),
    "HOSPITALS": (cohort._HOSPITALS, HOSPITALS_ZH),
    "STREETS": (cohort._STREETS, STREETS_ZH),
    "TOWNS": (cohort._TOWNS, TOWNS_ZH),
    "RELATIVES": (cohort._RELATIVES, RELATIVES_ZH),
    "MAIL_DOMAINS": (cohort._MAIL_DOMAINS, MAIL_DOMAINS_ZH),
    "WEEKDAYS": (cohort._WEEKDAYS, WEEKDAYS_ZH),
}


def check_lang(lang: str) -> str:
    """``lang`` if it is one the cohort is written in (``"en"`` or ``"zh"``), else a clear error."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS} (English or Chinese notes), got {lang!r}")
    return lang


def name_zh(name: str) -> str:
    """The Chinese name of a cohort patient: "James Smith" -> "王伟" (surname first; index for index)."""
    first, last = name.split(" ", 1)
    try:
        return LAST_NAMES_ZH[cohort.LAST_NAMES.index(last)] + FIRST_NAMES_ZH[cohort.FIRST_NAMES.index(first)]
    except ValueError:
        raise ValueError(f"{name!r} is not a name of the cohort's tables (FIRST_NAMES, LAST_NAMES)") from None


def _pick(rng: np.random.Generator, english, chinese) -> tuple[str, str]:
    """``choice`` over parallel tables: one draw, the same index in both languages."""
    i = int(rng.integers(len(english)))
    return english[i], chinese[i]


def _fill_both(rng: np.random.Generator, english: str, chinese: str) -> tuple[str, str]:
    """``cohort._fill`` for a pair of parallel phrases: the same draws, in the same order, fill both."""
    t = rng.uniform(38.1, 39.8)
    d, p, k, m = (int(rng.integers(lo, hi)) for lo, hi in ((2, 8), (2, 5), (2, 9), (2, 7)))
    side, zone = int(rng.integers(2)), int(rng.integers(3))
    ctr, mm = f"{rng.uniform(0.55, 0.65):.2f}", int(rng.integers(6, 19))
    common = {"d": d, "p": p, "k": k, "m": m, "ctr": ctr, "mm": mm}
    en = english.format(
        t=f"{t:.1f}C", side=("left", "right")[side], zone=("lower", "mid", "upper")[zone], **common
    )
    return en, chinese.format(t=f"{t:.1f}℃", side=_SIDES_ZH[side], zone=_ZONES_ZH[zone], **common)


def _typo_zh(text: str, slips: int) -> str:
    """Put ``slips`` homophone slips (HOMOPHONE_TYPOS, in its order) into ``text``, where its words occur."""
    for word, wrong in HOMOPHONE_TYPOS.items():
        if slips <= 0:
            break
        if word in text:
            text = text.replace(word, wrong, 1)
            slips -= 1
    return text


def _typo_both(rng: np.random.Generator, english: str, chinese: str) -> str:
    """``typo`` on the English part (the same draws), as many homophone slips in the Chinese part."""
    typed = typo(rng, english)
    slips = sum(a != b for a, b in zip(english.split(" "), typed.split(" "), strict=True))
    return _typo_zh(chinese, slips)


def write_note_zh(
    rng: np.random.Generator,
    f: dict[str, bool],
    patient: dict,
    visit_date: str,
    vitals: dict,
    id_rng: np.random.Generator | None = None,
) -> tuple[str, list[dict]]:
    """``cohort.write_note`` in Chinese: ``(text, spans)`` with ``text[start:end]`` the identifier of each span.

    Draws from ``rng`` exactly what ``write_note`` draws (so a Chinese cohort has the same visits, findings,
    labels and images as the English one); the identifiers come from ``id_rng`` (default: a stream seeded by
    ``rng``'s next draw, as in ``write_note``). Chapter 03's section on Chinese notes.
    """
    # Every step below mirrors write_note line by line: `en` is the English note's parts (typo() draws depend on
    # its words), `zh` the Chinese parts; the first two (the old fixed header) are replaced by identifier parts.
    doctor, _ = _pick(rng, cohort.DOCTORS, DOCTORS_ZH)
    complaint, complaint_zh = _pick(rng, cohort.COMPLAINTS, COMPLAINTS_ZH)
    en = [
        f"Patient: {patient['name']}  MRN: {patient['mrn']}  DOB: {patient['dob']}",
        f"Seen {visit_date} by {doctor}.",
        f"CC: {complaint}.",
    ]
    zh = ["", "", f"主诉：{complaint_zh}。"]
    symptoms: list[tuple[str, str]] = []
    for syndrome in cohort.NOTE_FINDINGS:
        if f[syndrome]:
            k = 1 + int(rng.random() < 0.5)
            for _ in range(k):
                pair = _pick(rng, cohort.POSITIVE[syndrome], POSITIVE_ZH[syndrome])
                symptoms.append(_fill_both(rng, *pair))
        elif rng.random() < 0.55:
            symptoms.append(_pick(rng, cohort.NEGATIVE[syndrome], NEGATIVE_ZH[syndrome]))
    for _ in range(int(rng.integers(0, 3))):
        symptoms.append(_fill_both(rng, *_pick(rng, cohort.NONSPECIFIC, NONSPECIFIC_ZH)))
    order = rng.permutation(len(symptoms))
    if symptoms:
        en.append("HPI: " + "; ".join(symptoms[i][0] for i in order) + ".")
        zh.append("现病史：" + "；".join(symptoms[i][1] for i in order) + "。")
    else:
        en.append("HPI: no new complaints.")
        zh.append("现病史：无新发不适。")
    en.append(
        f"Vitals: T {vitals['temp']:.1f} HR {vitals['hr']} RR {vitals['rr']} SpO2 {vitals['spo2']}% "
        f"BP {vitals['sbp']}/{vitals['dbp']}."
    )
    zh.append(
        f"生命体征：体温{vitals['temp']:.1f}℃，心率{vitals['hr']}次/分，呼吸{vitals['rr']}次/分，"
        f"血氧饱和度{vitals['spo2']}%，血压{vitals['sbp']}/{vitals['dbp']}mmHg。"
    )
    if patient["history"]:
        en.append("PMH: " + ", ".join(patient["history"]) + ".")
        zh.append(
            "既往史：" + "、".join(HISTORY_ZH[cohort.HISTORY.index(h)] for h in patient["history"]) + "。"
        )
    if patient["smoker"]:
        en.append(f"Smoker, {patient['pack_years']} pack-years.")
        zh.append(f"吸烟史{patient['pack_years']}包年。")
    for _ in range(int(rng.integers(0, 4))):
        at = int(rng.integers(3, len(en) + 1))
        sentence, sentence_zh = _pick(rng, cohort.IRRELEVANT, IRRELEVANT_ZH)
        en.insert(at, sentence)
        zh.insert(at, sentence_zh)
    clinical = [[(_typo_both(rng, e, z), None)] for e, z in zip(en, zh, strict=True)][2:]
    id_rng = id_rng if id_rng is not None else np.random.default_rng(rng.integers(2**63))
    return join_segments_zh(identifier_parts_zh(id_rng, patient, visit_date, clinical))


def date_text_zh(rng: np.random.Generator, date: str, relative: bool = False) -> str:
    """One date as Chinese notes write it (2022年3月31日, 2022-03-31, 2022/3/31, 3月31日; or 上周二)."""
    d = pd.Timestamp(date)
    if relative and rng.random() < 0.4:
        return f"上周{choice(rng, WEEKDAYS_ZH)}"
    formats = (
        "{y}年{m}月{d}日",
        "{y}-{m:02d}-{d:02d}",
        "{y}/{m}/{d}",
        "{y}.{m:02d}.{d:02d}",
        "{y}年{m:02d}月{d:02d}日",
        "{m}月{d}日",
    )
    return choice(rng, formats).format(y=d.year, m=d.month, d=d.day)


def identifier_parts_zh(
    rng: np.random.Generator, patient: dict, visit_date: str, clinical: list[list]
) -> list[list[tuple[str, str | None]]]:
    """``cohort._identifier_parts`` in Chinese: a header in one of three styles, then the clinical parts with
    identifier sentences among them; segments are (text, identifier type or None) (chapter 12)."""
    name = name_zh(patient["name"])
    first, last = patient["name"].split(" ", 1)
    pinyin = (
        LAST_NAMES_PINYIN[cohort.LAST_NAMES.index(last)]
        + "."
        + FIRST_NAMES_PINYIN[cohort.FIRST_NAMES.index(first)]
    )
    doctor = choice(rng, DOCTORS_ZH)
    style = int(rng.integers(3))
    mrn = patient["mrn"]
    if style == 0:
        dob, seen = patient["dob"], visit_date
        header = [[("姓名：", None), (name, "NAME"), ("，病历号：", None), (mrn, "MRN")]]
        header[0] += [("，出生日期：", None), (dob, "DATE"), ("。", None)]
        header.append(
            [("就诊日期：", None), (seen, "DATE"), ("，接诊医生：", None), (doctor, "NAME"), ("。", None)]
        )
    else:
        dob, seen = date_text_zh(rng, patient["dob"]), date_text_zh(rng, visit_date)
        if style == 1:
            header = [
                [
                    (name, "NAME"),
                    ("｜病历号", None),
                    (mrn, "MRN"),
                    ("｜出生", None),
                    (dob, "DATE"),
                    ("。", None),
                ]
            ]
        else:
            header = [
                [
                    (name, "NAME"),
                    ("（病历号", None),
                    (mrn, "MRN"),
                    ("），", None),
                    (dob, "DATE"),
                    ("出生。", None),
                ]
            ]
        header.append([(seen, "DATE"), ("门诊就诊，医生", None), (doctor, "NAME"), ("。", None)])
    age = patient["age"] - (2024 - int(visit_date[:4]))
    if age > 89 and rng.random() < 0.8:  # an age over 89 is an identifier (Safe Harbor); younger ages are not
        header.append([(str(age), "AGE"), (f"岁{'女性' if patient['sex'] == 'F' else '男性'}。", None)])
    parts = header + clinical
    for _ in range(1 + int(rng.integers(3))):
        k = int(rng.integers(len(IDENTIFIER_SENTENCES_ZH)))
        english, sentence = cohort._IDENTIFIER_SENTENCES[k], IDENTIFIER_SENTENCES_ZH[k]
        later = 1 if english.startswith("Follow-up") else -1
        a, b, c = (int(v) for v in rng.integers((0, 0, 0), (len(MOBILE_PREFIXES), 10000, 10000)))
        phone = choice(
            rng,
            ("{p}{b:04d}{c:04d}", "{p}-{b:04d}-{c:04d}", "+86 {p} {b:04d} {c:04d}", "010-6{b:03d}{c:04d}"),
        )
        values = {
            "rel": choice(rng, RELATIVES_ZH),
            "NAME": choice(rng, LAST_NAMES_ZH) + choice(rng, FIRST_NAMES_ZH),
            "PHONE": phone.format(p=MOBILE_PREFIXES[a], b=b % 1000 if "010" in phone else b, c=c),
            "HOSPITAL": choice(rng, HOSPITALS_ZH),
            "DATE": date_text_zh(  # a follow-up lies ahead; only "symptoms began" may say 上周二
                rng,
                str(pd.Timestamp(visit_date) + pd.Timedelta(days=int(rng.integers(1, 400)) * later)),
                relative="on {DATE}" not in english,
            ),
            "ADDRESS": f"{choice(rng, TOWNS_ZH)}{choice(rng, STREETS_ZH)}{int(rng.integers(1, 200))}号",
            "EMAIL": f"{pinyin}@{choice(rng, MAIL_DOMAINS_ZH)}",
        }
        parts.insert(
            int(rng.integers(len(header) + 1, len(parts) + 1)), cohort._fill_template(sentence, values)
        )
    return parts


def join_segments_zh(parts: list[list[tuple[str, str | None]]]) -> tuple[str, list[dict]]:
    """Join the parts without spaces (Chinese sentences end in 。); record where each identifier landed."""
    return cohort._join_segments(parts, sep="")


def write_report_zh(rng: np.random.Generator, f: dict[str, bool]) -> str:
    """``cohort.write_report`` in Chinese: the same draws, a hedged, sometimes incomplete report (chapter 03)."""
    lines = [_pick(rng, REPORT_VIEWS, REPORT_VIEWS_ZH)[1]]
    for finding in cohort.IMAGE_FINDINGS:
        if f[finding]:
            if rng.random() < 0.85:  # a finding is sometimes missed
                pair = _pick(rng, cohort.REPORT_POSITIVE[finding], REPORT_POSITIVE_ZH[finding])
                lines.append(_fill_both(rng, *pair)[1] + "。")
        elif rng.random() < 0.5:
            lines.append(_pick(rng, cohort.REPORT_NEGATIVE[finding], REPORT_NEGATIVE_ZH[finding])[1] + "。")
    if not any(f[k] for k in cohort.IMAGE_FINDINGS) and rng.random() < 0.5:
        lines.append(_NO_ACUTE_ZH)
    if rng.random() < 0.3:
        lines.append(_CORRELATION_ZH)
    return "".join(lines)
