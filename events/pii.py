"""The PII gate: free text on the log must not carry contact details, bank details or birth dates.

`pii_problems` judges a new event at the door (gateway, Python publisher, CSV import);
`find_pii` is the detector the log scan (`services/privacy/scan.py`) runs over raw text.
The gate judges new events only: an event already on the log is never re-judged.

What counts as free text is read from the catalogue's types, not from a list of names:
every `str` field without a pattern (ids, slugs, pseudonyms and key ids all have one) and
not an enumeration or literal, in the envelope or any nested data model.

Detectors, each tuned to refuse little that is not personal data:

- e-mail: `local@domain.tld`, also written `(at)` / `[at]`.
- phone: a number starting `+`, `00` or `0` (`(0` for an area code in brackets), 7 to 15
  digits with spaces, `/`, `-` or brackets between them. Numbers without a leading zero or
  plus (counts, years, ranges like `2021-27`) and dates (`01/02/2025`) are not phones;
  digits glued to letters or id punctuation (`ref-2025-0001`, UUIDs) are ids.
- IBAN: two letters, two check digits and 11 to 30 letters or digits, spaced or not,
  reported only when the ISO 13616 mod-97 check holds (a mistyped IBAN is rarely refused).
- birth date: a full date (`12.03.1987`, `1987-03-12`, `12. März 1987`) or a year, next to
  a birth word (geboren, geb., Geburtsdatum, Jahrgang, born, DOB, `*`); and any full date
  with its century lying more than BIRTH_YEARS_BEFORE years back (from today at the door;
  the scan judges a record as of the day it was written). Decision: a correction reason may
  well name a recent date ("start date 01.03.2025 entered wrongly"), which is no personal
  data, but no event of a programme lies fourteen years back, while every participant's
  birth date does.
- street address: a German street with a house number (`Hauptstraße 12`, `Bahnhofstr. 5a`,
  `Lindenweg 7`, `Marktplatz 1`, `Berliner Allee 3`), `Am Markt 3`-style names when the
  number ends the phrase, and a postcode with a town (`44135 Dortmund`).
"""

from __future__ import annotations

import datetime as dt
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from refnet.events.catalogue import EventModel
from refnet.events.errors import Problem

EMAIL, PHONE, IBAN, BIRTH_DATE, STREET_ADDRESS = (
    "e-mail address",
    "phone number",
    "IBAN",
    "birth date",
    "street address",
)
BIRTH_YEARS_BEFORE = 14
SEPARATOR = "\x00"
"""Joins independent texts for one pass of `find_pii`: no finding spans it, no context
crosses it (the catalogue refuses control characters inside a text)."""


@dataclass(frozen=True)
class Finding:
    """One piece of personal data in a text: what kind, and where."""

    kind: str
    start: int
    end: int
    text: str

    @property
    def masked(self) -> str:
        """The found text with most letters and digits starred: enough to find it, not to use it."""
        return mask(self.text)


def mask(text: str) -> str:
    """`+49 176 1234567` → `+49 1** *****67`: keep the first quarter (at most four) and last
    two letters or digits, star the rest, keep punctuation and spaces."""
    positions = [i for i, c in enumerate(text) if c.isalnum()]
    head = min(4, len(positions) // 4)
    tail = 2 if len(positions) >= 8 else 0
    hidden = set(positions[head : len(positions) - tail])
    return "".join("*" if i in hidden else c for i, c in enumerate(text))


# ------------------------------------------------------------------ detectors


def _before(text: str, start: int, size: int) -> str:
    """Up to `size` characters before `start`, within the same text."""
    return text[max(0, start - size) : start].rpartition(SEPARATOR)[2]


_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+\s*(?:@|\(at\)|\[at\])\s*"
    r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    re.IGNORECASE,
)
_PHONE = re.compile(r"(?<![\w+/.,-])(?:\+|\(0|0)[\d ()/\-–]{5,25}\d(?![\w/-]|[.,]\d)")
_DATE_LIKE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")
_PHONE_WORD = re.compile(
    r"(?:tel|telefon|phone|mobil|mobile|handy|fax|ruf|anruf|call|whatsapp|erreichbar)\w*\W*$",
    re.IGNORECASE,
)
_ID_WORD = re.compile(
    r"(?:az|aktenzeichen|zeichen|kennziffer|nr|nummer|no|id|ref|vorgang|bescheid|fall)\W*$",
    re.IGNORECASE,
)
_YEAR_GROUP = re.compile(r"[/-](?:19|20)\d\d(?:\D|$)")


def _phones(text: str) -> Iterator[Finding]:
    for match in _PHONE.finditer(text):
        found = match.group()
        digits = re.sub(r"\D", "", found)
        if _DATE_LIKE.fullmatch(found) or re.search(r"[ /\-–]{4}|\(\)", found):
            continue
        if found.startswith("+"):
            if not 8 <= len(digits) <= 15:
                continue
        elif digits.startswith("000") or not 7 <= len(digits) <= 15:
            continue  # leading zeros make a padded id, not a number anyone dials
        # A file number ("Az. 0815/2025") is no phone, unless a phone word or a mobile
        # prefix (015x-017x) says otherwise.
        before = _before(text, match.start(), 20)
        mobile = re.match(r"(?:0|49|0049)1[5-7]\d", digits) is not None
        if (
            not mobile
            and not _PHONE_WORD.search(before)
            and (_ID_WORD.search(before) or _YEAR_GROUP.search(found))
        ):
            continue
        yield Finding(PHONE, match.start(), match.end(), found)


# Upper case only, as IBANs are written: lower-case hex ids ("p-ef703ad5aadceec0") would
# otherwise pass the checksum one time in 97.
_IBAN = re.compile(r"(?<![A-Za-z0-9_-])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
# The length of an IBAN in each country that has them (the SWIFT IBAN registry).
_IBAN_LENGTH = {
    entry[:2]: int(entry[3:])
    for entry in (
        "AD:24 AE:23 AL:28 AT:20 AZ:28 BA:20 BE:16 BG:22 BH:22 BI:27 BR:29 BY:28 CH:21 CR:22 "
        "CY:28 CZ:24 DE:22 DJ:27 DK:18 DO:28 EE:20 EG:29 ES:24 FI:18 FK:18 FO:18 FR:27 GB:22 "
        "GE:22 GI:23 GL:18 GR:27 GT:28 HN:28 HR:21 HU:28 IE:22 IL:23 IQ:23 IS:26 IT:27 JO:30 "
        "KW:30 KZ:20 LB:28 LC:32 LI:21 LT:20 LU:20 LV:21 LY:25 MC:27 MD:24 ME:22 MK:19 MN:20 "
        "MR:27 MT:31 MU:30 NI:28 NL:18 NO:15 OM:23 PK:24 PL:28 PS:29 PT:25 QA:29 RO:24 RS:22 "
        "RU:33 SA:24 SC:31 SD:18 SE:24 SI:19 SK:24 SM:27 SO:23 ST:25 SV:28 TL:23 TN:24 TR:26 "
        "UA:29 VA:22 VG:24 XK:20 YE:30"
    ).split()
}


def iban_valid(candidate: str) -> bool:
    """The ISO 13616 check: the IBAN, its first four characters moved to the end and letters
    read as 10..35, leaves 1 when divided by 97; and the country's length."""
    compact = re.sub(r"\s", "", candidate).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", compact):
        return False
    if _IBAN_LENGTH.get(compact[:2]) != len(compact):
        return False
    number = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return int(number) % 97 == 1


def _ibans(text: str) -> Iterator[Finding]:
    for match in _IBAN.finditer(text):
        found = match.group()
        # A greedy match may run into a following word ("... 00 BIC"): try shorter cuts too.
        for end in range(len(found), 14, -1):
            if found[end - 1] != " " and iban_valid(found[:end]):
                yield Finding(IBAN, match.start(), match.start() + end, found[:end])
                break


_MONTHS = (
    "jan(?:uar|uary)?|feb(?:ruar|ruary)?|mär(?:z)?|mar(?:ch)?|apr(?:il)?|mai|may|jun[ei]?|"
    "jul[iy]?|aug(?:ust)?|sep(?:t|tember)?|okt(?:ober)?|oct(?:ober)?|nov(?:ember)?|"
    "dez(?:ember)?|dec(?:ember)?"
)
_DATE = re.compile(
    r"(?<![\w.])(?:(?P<d>\d{1,2})[./](?P<m>\d{1,2})[./](?P<y>\d{4}|\d{2})"
    r"|(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})"
    rf"|(?P<nd>\d{{1,2}})\.?\s+(?P<nm>{_MONTHS})\.?\s+(?P<ny>\d{{4}})"
    rf"|(?P<am>{_MONTHS})\.?\s+(?P<ad>\d{{1,2}}),?\s+(?P<ay>\d{{4}}))(?!\w|\.\d)",
    re.IGNORECASE,
)
_BIRTH_WORD = re.compile(
    r"(?:(?<!\w)(?:geboren|geb\.?|geburtsdatum|geburtstag|geb\.?-?datum|jahrgang|born|"
    r"birth|date of birth|d\.?o\.?b\.?)|(?:^|\s)\*)\s*(?:am|on|in|:)?\s*$",
    re.IGNORECASE,
)
_BIRTH_YEAR = re.compile(
    r"(?<!\w)(?:geboren|geb\.|jahrgang|born|birth|DOB)\s*(?:im jahr|in|:)?\s*(?:19|20)\d{2}\b",
    re.IGNORECASE,
)


def _date_of(match: re.Match[str]) -> tuple[int, bool] | None:
    """The year of a real calendar date, and whether it was written with its century."""
    g = match.groupdict()
    if g["y"] is not None:
        day, month, year = int(g["d"]), int(g["m"]), int(g["y"])
        if len(g["y"]) == 2:
            year += 1900 if year >= 30 else 2000
    elif g["iy"] is not None:
        day, month, year = int(g["id"]), int(g["im"]), int(g["iy"])
    elif g["nd"] is not None:
        day, month, year = int(g["nd"]), _month_number(g["nm"]), int(g["ny"])
    else:
        day, month, year = int(g["ad"]), _month_number(g["am"]), int(g["ay"])
    try:
        dt.date(year, month, day)
    except ValueError:
        return None
    return year, g["y"] is None or len(g["y"]) == 4


def _month_number(name: str) -> int:
    key = name.lower()[:3]
    german = "jan feb mär apr mai jun jul aug sep okt nov dez".split()
    english = "jan feb mar apr may jun jul aug sep oct nov dec".split()
    return (german.index(key) if key in german else english.index(key)) + 1


def _birth_dates(text: str, today: dt.date | None = None) -> Iterator[Finding]:
    cutoff = (today or dt.date.today()).year - BIRTH_YEARS_BEFORE
    for match in _DATE.finditer(text):
        date = _date_of(match)
        if date is None:
            continue
        year, with_century = date
        if _BIRTH_WORD.search(_before(text, match.start(), 30)) or (
            year < cutoff and with_century  # "1.10.05" is as likely a version as a date
        ):
            yield Finding(BIRTH_DATE, match.start(), match.end(), match.group())
    for match in _BIRTH_YEAR.finditer(text):
        # "Jahrgang 2024" may be a course's cohort; a birth year lies further back.
        cohort = match.group().lower().startswith("jahrgang")
        if not cohort or int(match.group()[-4:]) < cutoff:
            yield Finding(BIRTH_DATE, match.start(), match.end(), match.group())


# `ring` after a vowel is English (Mentoring, Hearing), not a street (Westring, Kaiserring).
_SUFFIX = (
    r"(?:straße|strasse|str\.|weg|gasse|allee|platz|(?<![aeiouy])ring|damm|ufer|chaussee|"
    r"pfad|steig|stieg|wall|graben)"
)
# Compounds that end like a street but name a place in a programme or a path in life.
_NOT_STREETS = re.compile(
    r"(?:arbeits|ausbildungs|praktikums|kurs|kita|schul|studien|sitz|park|stell|wohn|heim|"
    r"betreuungs|therapie|maßnahme|massnahme|werkstatt|teilnahme|förder|spiel|warte|"
    r"bildungs|lebens|lern|berufs|rechts|dienst|rück|aus|um|irr)(?:platz|weg|ring)"
    r"|(?:ein|auf|an|um|aus|ab)st[ie]+g|firewall",
    re.IGNORECASE,
)
_HOUSE = r"\d{1,3}\s?[a-zA-Z]?(?:\s?[-/]\s?\d{1,3}[a-z]?)?(?![\w.,]*\d|\w)"
_STREET = re.compile(
    rf"(?<![\w-])(?:[A-ZÄÖÜ][\wäöüß-]*?{_SUFFIX}"
    # two words: an adjective of a place (Berliner, Kölner) or a hyphenated name
    rf"|(?!(?:Erster|Zweiter|Dritter|Letzter|Nächster|Neuer|Anderer)\s)[A-ZÄÖÜ][a-zäöüß]+er\s"
    rf"(?:Straße|Strasse|Str\.|Weg|Allee|Platz|Ring|Damm|Ufer|Gasse|Chaussee)"
    rf"|[A-ZÄÖÜ][\wäöüß-]*-(?:Straße|Strasse|Str\.|Weg|Allee|Platz|Ring|Gasse))\s?{_HOUSE}"
)
_PREFIX_STREET = re.compile(
    r"(?<!\w)(?:Am|An der|An den|Auf der|Auf dem|Im|In der|Zum|Zur|Unter den|Hinter der)\s+"
    r"(?P<name>[A-ZÄÖÜ][\wäöüß-]+)\s+\d{1,3}[a-z]?"
    r"(?=\s*(?:$|\x00|[,;)]|\s\d{5}\b|\s(?:in|bei)\s[A-ZÄÖÜ]))"  # the number ends the phrase
)
# "Im Kurs 2", "Am Montag 3", "Im Ausbildungsjahr 2": a time or a unit, not a street.
_NOT_STREET_NAMES = re.compile(
    r"(?:tag|woch|mittwoch|januar|februar|märz|april|mai|juni|juli|august|september|oktober|"
    r"november|dezember|jahr|monat|quartal|semester|ende|anfang|termin|kurs|modul|schritt|"
    r"punkt|platz|rang|stand|level|niveau|stufe|block|team|raum|bereich|gang|teil|abschnitt)e?$",
    re.IGNORECASE,
)
_POSTCODE = re.compile(
    r"(?<![\w.,-])(?:D-)?[0-9]\d{4}\s+(?P<town>[A-ZÄÖÜ][a-zäöüß]+(?:[- ][A-ZÄÖÜ][a-zäöüß]+)?)"
)
_NOT_TOWNS = re.compile(
    r"euros?|teilnehmende\w*|teilnehmer\w*|personen|menschen|stunden|tage|wochen|monate|jahre|"
    r"fälle|plätze|einwohner\w*|mitglieder|punkte|zeichen|beschäftigte\w*|stellen|stück|"
    r"anträge|anfragen|kontakte|termine|beratungen|eur|participants|people|persons|hours|"
    r"days|weeks|months|years|cases|points",
    re.IGNORECASE,
)


def _addresses(text: str) -> Iterator[Finding]:
    for match in _STREET.finditer(text):
        if not _NOT_STREETS.search(match.group()):
            yield Finding(STREET_ADDRESS, match.start(), match.end(), match.group())
    for match in _PREFIX_STREET.finditer(text):
        if not _NOT_STREET_NAMES.search(match.group("name")):
            yield Finding(STREET_ADDRESS, match.start(), match.end(), match.group())
    for match in _POSTCODE.finditer(text):
        town = re.split(r"[- ]", match.group("town"))[0]
        code = match.group().removeprefix("D-")
        if not code.startswith("00") and not _NOT_TOWNS.fullmatch(town):
            yield Finding(STREET_ADDRESS, match.start(), match.end(), match.group())


_WORTH_A_LOOK = re.compile(r"[\d@]|[(\[][aA][tT][)\]]")
_AT = re.compile(r"@|[(\[]at[)\]]", re.IGNORECASE)


def worth_a_look(text: str) -> bool:
    """Whether `text` could hold anything `find_pii` finds: each detector needs a digit,
    except the e-mail's @ or (at). A cheap test that spares most strings the search."""
    return _WORTH_A_LOOK.search(text) is not None


def find_pii(text: str, today: dt.date | None = None) -> list[Finding]:
    """Every e-mail address, phone number, IBAN, birth date and street address in `text`,
    in the order they appear; where two overlap, the one found first by kind wins."""
    if not _WORTH_A_LOOK.search(text):
        return []  # every detector needs a digit, except the e-mail's @ or (at)
    found: list[Finding] = []
    if _AT.search(text):
        found += [Finding(EMAIL, m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)]
    found += _ibans(text)
    found += _birth_dates(text, today)
    found += _phones(text)
    found += _addresses(text)
    kept: list[Finding] = []
    for finding in found:
        if not any(f.start < finding.end and finding.start < f.end for f in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)


# ------------------------------------------------------------------ the gate


def _is_free_text(annotation: Any, metadata: list[Any]) -> bool:
    """A `str` with no pattern, or an optional one; not an enum, literal, id or pseudonym."""
    if get_origin(annotation) is Annotated:
        base, *extra = get_args(annotation)
        return _is_free_text(base, [*metadata, *extra])
    if get_origin(annotation) in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return any(_is_free_text(a, metadata) for a in options)
    if annotation is not str or get_origin(annotation) is Literal:
        return False
    return not any(_pattern(m) for m in metadata)


def _pattern(meta: Any) -> str | None:
    if hasattr(meta, "metadata"):  # a FieldInfo inside Annotated
        return next((p for m in meta.metadata if (p := _pattern(m))), None)
    pattern = getattr(meta, "pattern", None)
    return pattern if isinstance(pattern, str) else None


def _models(annotation: Any) -> list[type[BaseModel]]:
    if get_origin(annotation) is not None:
        return [m for a in get_args(annotation) for m in _models(a)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


@cache
def free_text_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The dotted paths of every free-text field of `model`, nested models included."""
    paths: list[str] = []
    for name, info in model.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, Enum):
            continue
        if _is_free_text(info.annotation, list(info.metadata)):
            paths.append(name)
        for nested in _models(info.annotation):
            paths += [f"{name}.{sub}" for sub in free_text_fields(nested)]
    return tuple(paths)


def _value(event: BaseModel, path: str) -> object:
    value: object = event
    for part in path.split("."):
        value = getattr(value, part, None)
    return value


def pii_problems(event: EventModel) -> list[Problem]:
    """One problem per free-text field of `event` that holds personal data; [] when clean."""
    problems: list[Problem] = []
    for path in free_text_fields(type(event)):
        value = _value(event, path)
        if not isinstance(value, str):
            continue
        kinds = list(dict.fromkeys(f.kind for f in find_pii(value)))
        if kinds:
            what = " and ".join(f"what looks like {_article(k)} {k}" for k in kinds)
            problems.append(Problem(path, f"holds {what}; free text must not carry personal data"))
    return problems


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiouAEIOU" else "a"
