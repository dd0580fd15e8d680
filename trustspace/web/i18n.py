"""The portal's two languages: Simplified Chinese and English.

Every visible string is an English message id passed through gettext.  The Chinese catalogs
are the ``.po`` files under ``locale/zh/LC_MESSAGES`` (one per part of the portal, merged at
start); they are compiled in memory when the node starts, so no build step is needed and the
source of truth is the reviewed ``.po`` text.  A person's language is the switch they chose
(a cookie), else the best match of the browser's ``Accept-Language``, else English.

Numbers, money and times are formatted for the language by Babel (CLDR data).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = {"en": "English", "zh": "中文"}
"""Language code -> its own name (what the switch shows)."""
DEFAULT = "en"
LOCALES = {"en": Locale.parse("en_US"), "zh": Locale.parse("zh_Hans_CN")}
HERE = Path(__file__).parent / "locale"
TIMEZONES = {"en": "UTC", "zh": "Asia/Shanghai"}


def N_(message: str) -> str:
    """Marks a string for extraction; it is translated where it is shown."""
    return message


@functools.cache
def translations(lang: str) -> NullTranslations:
    if lang == DEFAULT:
        return NullTranslations()
    merged: Translations | None = None
    for po in sorted((HERE / lang / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        part = Translations(buffer, domain="messages")
        merged = part if merged is None else merged.merge(part)
    return merged if merged is not None else NullTranslations()


def negotiate(accept_language: str | None, chosen: str | None) -> str:
    """The language of a request: the switch's choice, else ``Accept-Language``."""
    if chosen in LANGUAGES:
        return str(chosen)
    wanted: list[tuple[float, str]] = []
    for i, part in enumerate((accept_language or "")[:500].split(",")[:20]):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        wanted.append((-weight, f"{i:03d}{tag.strip().lower()}"))
    for _, key in sorted(wanted):
        code = key[3:].split("-")[0]
        if code in LANGUAGES:
            return code
    return DEFAULT


@dataclass(frozen=True)
class Format:
    """Formatters for one language."""

    lang: str

    @property
    def locale(self) -> Locale:
        return LOCALES[self.lang]

    def number(self, value: float | int | None) -> str:
        if value is None:
            return "–"
        return numbers.format_decimal(value, locale=self.locale)

    def percent(self, value: float | None) -> str:
        if value is None:
            return "–"
        return numbers.format_percent(value, locale=self.locale, format="#,##0.#%")

    def money(self, minor: int | str | None, currency: str | None) -> str:
        """An amount in minor units (an integer) with its ISO 4217 currency."""
        if minor in (None, "") or not currency:
            return "–"
        try:
            units = int(str(minor))
        except ValueError:
            return f"{minor} {currency}"
        digits = numbers.get_currency_precision(currency)
        major = units / (10**digits) if digits else units
        return numbers.format_currency(major, currency, locale=self.locale)

    def size(self, count: int | None) -> str:
        if count is None:
            return "–"
        value = float(count)
        for unit in ("B", "KiB", "MiB", "GiB"):
            if value < 1024 or unit == "GiB":
                shown = numbers.format_decimal(round(value, 1), locale=self.locale)
                return f"{shown} {unit}"
            value /= 1024
        return str(count)

    def time(self, seconds: float | str | None) -> str:
        if seconds in (None, ""):
            return "–"
        if isinstance(seconds, str):
            try:
                moment = dt.datetime.fromisoformat(seconds.replace("Z", "+00:00"))
            except ValueError:
                return seconds
        else:
            moment = dt.datetime.fromtimestamp(float(seconds), dt.UTC)
        zone = dates.get_timezone(TIMEZONES[self.lang])
        shown = dates.format_datetime(moment, "medium", tzinfo=zone, locale=self.locale)
        if TIMEZONES[self.lang] == "UTC":
            return f"{shown} UTC"
        offset = dates.get_timezone_gmt(moment.astimezone(zone), width="long", locale=self.locale)
        return f"{shown} {offset}"

    def filters(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "percent": self.percent,
            "money": self.money,
            "size": self.size,
            "when": self.time,
        }
