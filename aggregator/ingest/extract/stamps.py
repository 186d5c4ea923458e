"""The times a live page shows or states, read wherever a page puts them.

The generic extractor (`blocks`) asks three questions of a page, and this
module answers them without knowing any outlet:

- Does this text open with a printed time? Newsrooms print `14:05`, `2:05pm`,
  `2.05 p.m. ET`, `14.05 Uhr`, `14h05`, `21:06 (IST)`, `14:05 BST`,
  `10 p.m.`, `Updated at 14:05`, or "5 mins ago" (`printed_stamp`). A stamp
  followed by a date ("Updated 10:01 pm PST, Tuesday, November 19") is the
  page's edit stamp, not an update's; a clock minute ("57:33") or a score
  never reads as one, because hours stop at 23 and minutes at 59.
- Does this attribute hold a time? `datetime`, `data-*`, `title` and
  `content` attributes holding ISO 8601 date-times or epoch seconds or
  milliseconds (`attribute_instant`), only between 1990 and the fetch.
- Is this heading a day? "Donnerstag, 18. 7.", "Tuesday 16 July",
  "18 juillet 2024", "July 18, 2024", "2024-07-18" (`day_heading`), in
  English, French, German, Spanish, Italian, Portuguese, Dutch and Polish.

and `page_anchor` finds the moment the page says it was last changed (its
metadata), which bounds its newest update when the stamps carry no date.
Everything is pure: the fetch time is an argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aggregator.ingest.extract.times import (
    EARLIEST_PLAUSIBLE,
    RELATIVE_LABEL,
    Ago,
    Stamp,
    hour_of_day,
    parse_iso,
    parse_relative,
    too_far_ahead,
)

# Zone labels newsrooms print; anything else in that place is a word of the text.
ZONE_LABELS = frozenset(
    [
        "GMT",
        "UTC",
        "UT",
        "BST",
        "IST",
        "CET",
        "CEST",
        "EET",
        "EEST",
        "WET",
        "WEST",
        "MSK",
        "ET",
        "EST",
        "EDT",
        "CT",
        "CST",
        "CDT",
        "MT",
        "MST",
        "MDT",
        "PT",
        "PST",
        "PDT",
        "AKST",
        "AKDT",
        "HST",
        "AST",
        "ADT",
        "NST",
        "NDT",
        "AEST",
        "AEDT",
        "ACST",
        "ACDT",
        "AWST",
        "NZST",
        "NZDT",
        "JST",
        "KST",
        "HKT",
        "SGT",
        "PHT",
        "ICT",
        "WIB",
        "PKT",
        "GST",
        "SAST",
        "WAT",
        "CAT",
        "EAT",
        "BRT",
        "ART",
    ]
)

_WEEKDAYS = (
    "monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed|thu|thurs|fri|"
    "sat|sun|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|montag|dienstag|mittwoch|"
    "donnerstag|freitag|samstag|sonntag|lunes|martes|miércoles|jueves|viernes|sábado|domingo|"
    "lunedì|martedì|mercoledì|giovedì|venerdì|sabato|domenica|segunda|terça|quarta|quinta|"
    "sexta|maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag|poniedziałek|wtorek|"
    "środa|czwartek|piątek|sobota|niedziela"
)
# Month names and their usual abbreviations; the number is the month.
_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    [
        "january jan janvier janv januar jänner enero gennaio janeiro januari stycznia styczeń",
        "february feb feb. février févr februar febrero febbraio fevereiro februari lutego luty",
        "march mar mars märz marzo março maart marca marzec",
        "april apr avril abril aprile kwietnia kwiecień",
        "may mai mayo maggio maio mei maja maj",
        "june jun juin juni junio giugno junho czerwca czerwiec",
        "july jul juillet juil juli julio luglio julho lipca lipiec",
        "august aug août agosto augustus sierpnia sierpień",
        "september sep sept septembre settembre setembro septiembre września wrzesień",
        "october oct octobre oktober octubre ottobre outubro oktober października październik",
        "november nov novembre noviembre novembro listopada listopad",
        "december dec décembre dez dezember diciembre dicembre dezembro grudnia grudzień",
    ],
    1,
):
    for _name in _names.split():
        _MONTHS.setdefault(_name.rstrip("."), _number)
_MONTH = "|".join(sorted((re.escape(name) for name in _MONTHS), key=len, reverse=True))

_PREFIX = r"(?:(?P<prefix>(?i:updated?|posted|published))(?:\s+(?i:at))?:?\s+)?"
_ZONE = "|".join(sorted(ZONE_LABELS, key=len, reverse=True))
_PRINTED = re.compile(
    rf"^{_PREFIX}"
    rf"(?:(?P<relative>{RELATIVE_LABEL})"
    r"|(?P<hour>2[0-3]|[01]?\d)"
    r"(?:(?P<sep>[:.]|h(?=[0-5]\d))(?P<minute>[0-5]\d))?"
    r"(?:\s*(?P<meridiem>[AaPp])\.?\s?[Mm]\b\.?)?"
    r"(?:\s*(?P<uhr>Uhr)\b)?"
    rf"(?:\s*(?P<open>\()?(?P<zone>{_ZONE})(?(open)\))(?![\w]))?)"
    r"(?P<rest>.*)$",
    re.DOTALL,
)
_HEADLINE_SEPARATOR = re.compile(r"^\s*[:\-\u2013\u2014|\u2022\u00b7]\s*(?P<headline>\S.*)$", re.S)
_DATE_AFTER = re.compile(
    rf"^[\s,\u2013-]*(?:(?i:{_WEEKDAYS})\b|(?i:{_MONTH})\b|\d{{1,4}}[./-]\d{{1,2}}"
    rf"|\d{{1,2}}\.?\s+(?i:{_MONTH})\b)"
)

_DAY_HEADING = re.compile(
    rf"^(?:(?i:{_WEEKDAYS})\.?,?\s+)?(?:"
    r"(?P<d1>\d{1,2})\.\s*(?P<m1>\d{1,2})\.(?:\s*(?P<y1>\d{4}))?"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th|er|\.)?\s+(?i:de\s+)?(?P<m2>(?i:{_MONTH}))\.?(?:,?\s+(?i:de\s+)?(?P<y2>\d{{4}}))?"
    rf"|(?P<m3>(?i:{_MONTH}))\.?\s+(?P<d3>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y3>\d{{4}}))?"
    r"|(?P<y4>\d{4})-(?P<m4>\d{2})-(?P<d4>\d{2})"
    r"|(?P<d5>\d{1,2})/(?P<m5>\d{1,2})/(?P<y5>\d{4})"
    r")[\s:.]*$"
)
_DAY_HEADING_LIMIT = 40

_ISO_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_EPOCH = re.compile(r"^(?P<seconds>\d{10})(?:\.\d+)?$|^(?P<millis>\d{13})$")


@dataclass(frozen=True, slots=True)
class Printed:
    """A printed stamp that opens a piece of text, and what follows it."""

    when: Stamp | Ago
    headline: str | None
    rest: str
    marked: bool  # a meridiem, zone label, "Uhr", "h" or prefix says it is a time

    @property
    def shape(self) -> str:
        """How the stamp is written, so stamps of one series are grouped together."""
        if isinstance(self.when, Ago):
            return "relative"
        return "marked" if self.marked else "clock"


def printed_stamp(text: str) -> Printed | None:
    """The stamp `text` opens with, or None (see the module rules)."""
    match = _PRINTED.match(text.lstrip())
    if match is None:
        return None
    rest = match["rest"]
    first = rest[:1]
    if first and (first.isalnum() or first in "%+'\u2019/"):
        return None
    if match["relative"]:
        relative = parse_relative(match["relative"])
        if relative is None:
            return None
        return Printed(relative, _headline(rest), rest.strip(), True)
    meridiem, minute, zone = match["meridiem"], match["minute"], match["zone"]
    if minute is None and meridiem is None and match["uhr"] is None:
        return None
    if minute is not None and match["sep"] is None:
        return None
    hour = hour_of_day(int(match["hour"]), meridiem)
    if hour is None:
        return None
    if _DATE_AFTER.match(rest):
        return None  # "Updated 10:01 pm PST, Tuesday, November 19": the page's edit stamp
    marked = bool(meridiem or zone or match["uhr"] or match["prefix"] or match["sep"] == "h")
    stamp = Stamp(hour, int(minute or 0), zone)
    return Printed(stamp, _headline(rest), rest.strip(), marked)


def _headline(rest: str) -> str | None:
    match = _HEADLINE_SEPARATOR.match(rest)
    return match["headline"].strip() if match is not None else None


def attribute_instant(
    name: str, value: str, zone: ZoneInfo, fetched_at: datetime
) -> datetime | None:
    """The instant an attribute holds (ISO 8601 date-time or epoch), if plausible.

    A bare date is not an instant; `title` and `content` are read only as ISO.
    """
    text = value.strip()
    instant: datetime | None = None
    if _ISO_DATE_TIME.match(text) and len(text) > 10:
        parsed = parse_iso(text, zone, name)
        instant = parsed[0] if parsed is not None else None
    elif name not in ("title", "content"):
        epoch = _EPOCH.match(text)
        if epoch is not None:
            seconds = float(text) if epoch["seconds"] else int(epoch["millis"]) / 1000
            instant = datetime.fromtimestamp(seconds, UTC)
    if instant is None or instant < EARLIEST_PLAUSIBLE or too_far_ahead(instant, fetched_at):
        return None
    return instant


def day_heading(text: str, anchor: date) -> date | None:
    """The day a short heading names, its year (when missing) the latest not after `anchor`."""
    if len(text) > _DAY_HEADING_LIMIT:
        return None
    match = _DAY_HEADING.match(text.strip())
    if match is None:
        return None
    groups = {key: value for key, value in match.groupdict().items() if value}
    day = int(next(groups[key] for key in ("d1", "d2", "d3", "d4", "d5") if key in groups))
    month_text = next(groups[key] for key in ("m1", "m2", "m3", "m4", "m5") if key in groups)
    month = int(month_text) if month_text.isdigit() else _MONTHS[month_text.lower().rstrip(".")]
    year_text = next((groups[key] for key in ("y1", "y2", "y3", "y4", "y5") if key in groups), None)
    try:
        if year_text is not None:
            return date(int(year_text), month, day)
        named = date(anchor.year, month, day)
        return named if named <= anchor + timedelta(days=1) else date(anchor.year - 1, month, day)
    except ValueError:
        return None


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The last minute of `day` in `zone`, in UTC: the bound a date-only metadata gives."""
    return datetime.combine(day, time(23, 59), tzinfo=zone).astimezone(UTC)


def metadata_instant(value: str, zone: ZoneInfo, fetched_at: datetime) -> datetime | None:
    """A page metadata time (ISO date-time, or a date read as the end of that day)."""
    text = value.strip()
    instant: datetime | None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            instant = end_of_day(date.fromisoformat(text), zone)
        except ValueError:
            return None
    else:
        instant = attribute_instant("metadata", text, zone, fetched_at)
    if instant is None or instant < EARLIEST_PLAUSIBLE:
        return None
    return min(instant, fetched_at) if too_far_ahead(instant, fetched_at) else instant
