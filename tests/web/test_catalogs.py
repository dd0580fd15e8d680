"""Every string the portal shows has its Chinese translation, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir

from trustspace.web import i18n

WEB = Path(i18n.__file__).parent
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def messages() -> dict[str, str]:
    found: dict[str, str] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        WEB, METHODS, keywords={"_": None, "gettext": None, "N_": None}
    ):
        if isinstance(message, str) and message:
            found.setdefault(message, filename)
    return found


def test_every_message_has_a_chinese_translation_with_its_placeholders() -> None:
    zh = i18n.translations("zh")
    found = messages()
    assert len(found) > 40  # the extraction itself works
    missing = sorted(f"{where}: {m!r}" for m, where in found.items() if zh.gettext(m) == m)
    assert missing == []
    wrong = sorted(m for m in found
                   if set(PLACEHOLDER.findall(m)) != set(PLACEHOLDER.findall(zh.gettext(m))))  # fmt: skip
    assert wrong == []


def test_languages_are_chosen_from_the_switch_then_accept_language() -> None:
    assert i18n.negotiate("zh-CN,zh;q=0.9,en;q=0.8", None) == "zh"
    assert i18n.negotiate("en-GB,zh;q=0.5", None) == "en"
    assert i18n.negotiate("fr-FR,zh-TW;q=0.3", None) == "zh"
    assert i18n.negotiate("fr-FR", None) == "en"
    assert i18n.negotiate("zh-CN", "en") == "en"
    assert i18n.negotiate("q=;;,,,zh;q=abc" * 100, "xx") == "en"


def test_numbers_money_and_times_are_formatted_for_the_language() -> None:
    en, zh = i18n.Format("en"), i18n.Format("zh")
    assert en.number(1234567) == "1,234,567" and zh.number(1234567) == "1,234,567"
    assert en.money(123456, "CNY") == "CN¥1,234.56" and zh.money(123456, "CNY") == "¥1,234.56"
    assert en.money(500, "JPY") == "¥500"
    assert en.time(0).startswith("Jan 1, 1970") and en.time(0).endswith("UTC")
    assert zh.time(0).startswith("1970年1月1日") and zh.time(0).endswith("GMT+08:00")
    assert en.size(1536) == "1.5 KiB" and en.percent(0.125) == "12.5%"
