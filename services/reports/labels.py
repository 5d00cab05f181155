"""The ESF+ report's words: indicator labels, Commission codes, section titles and headings.

Every message is written in English here and translated through the gettext domain
`reports` (`services/i18n/locale/de/LC_MESSAGES/reports.po`); `messages()` lists all
of them, so a test can prove the German catalogue misses none.
"""

from __future__ import annotations

from dataclasses import dataclass

from refnet.projections.reports.esf import (
    LEAVING_KEYS,
    OUTPUT_KEYS,
    REFUSED_KEYS,
    RESULT_CODES,
    SIX_MONTH_KEYS,
)
from refnet.services.i18n.translations import gettext

DOMAIN = "reports"


def _(message: str) -> str:
    """Mark a message for the catalogue; it is translated where it is shown (`label`)."""
    return message


def label(message: str, lang: str) -> str:
    """`message` in `lang`: the catalogue's German, or the English as written."""
    return gettext(lang, DOMAIN, message)


OUTPUT_MESSAGES: dict[str, str] = {
    "EECO01": _("Participants"),
    "EECO02": _("Unemployed, including long-term unemployed"),
    "EECO03": _("Long-term unemployed"),
    "EECO04": _("Inactive"),
    "EECO05": _("Employed, including self-employed"),
    "EECO06": _("Under 18"),
    "EECO07": _("Aged 18–29"),
    "EECO08": _("Aged 55 and over"),
    "EECO09": _("ISCED 0–2 (at most lower secondary education)"),
    "EECO10": _("ISCED 3–4 (upper secondary or post-secondary non-tertiary education)"),
    "EECO11": _("ISCED 5–8 (tertiary education)"),
    "third_country_nationals": _("Third-country nationals"),
}

REFUSED_MESSAGES: dict[str, str] = {
    "gender": _("Gender"),
    "age_band": _("Age band"),
    "education_level": _("Education level"),
    "employment_status": _("Employment status at entry"),
    "third_country_national": _("Third-country nationality"),
}

SITUATION_MESSAGES: dict[str, str] = {
    "job_searching": _("Job searching"),
    "in_education_or_training": _("In education or training"),
    "gained_qualification": _("Gained a qualification"),
    "in_employment": _("In employment, including self-employment"),
    "other": _("Other situation"),
}

LEAVING_MESSAGES: dict[str, str] = {"left": _("Participants who left"), **SITUATION_MESSAGES}
SIX_MONTH_MESSAGES: dict[str, str] = {
    "followed_up": _("Participants with a result six months after leaving"),
    **SITUATION_MESSAGES,
}


@dataclass(frozen=True)
class Section:
    """One section of the report: its JSON key, its title, and its indicators in order."""

    key: str
    title: str
    keys: tuple[str, ...]
    messages: dict[str, str]
    codes: dict[str, str]
    split: bool
    """True when every figure is split by gender; False for plain counts (refusals)."""

    def code(self, key: str) -> str:
        """The Commission's code of `key`, or "" where the report is not sure of one."""
        return self.codes.get(key, "")


SECTIONS: tuple[Section, ...] = (
    Section(
        "output",
        _("Output indicators: participants at their first enrolment"),
        OUTPUT_KEYS,
        OUTPUT_MESSAGES,
        # The EECO keys are the Commission's codes; third-country nationals get none here.
        {key: key for key in OUTPUT_KEYS if key.startswith("EECO")},
        split=True,
    ),
    Section(
        "refused",
        _("Refused answers of these participants"),
        REFUSED_KEYS,
        REFUSED_MESSAGES,
        {},
        split=False,
    ),
    Section(
        "results_on_leaving",
        _("Results on leaving"),
        LEAVING_KEYS,
        LEAVING_MESSAGES,
        dict(RESULT_CODES),
        split=True,
    ),
    Section(
        "results_six_months",
        _("Results six months after leaving"),
        SIX_MONTH_KEYS,
        SIX_MONTH_MESSAGES,
        {},
        split=True,
    ),
)

FIGURE_KEYS: tuple[str, ...] = ("total", "female", "male", "diverse", "not_stated")
"""The columns of a gender-split box, in report order."""

FIGURE_MESSAGES: dict[str, str] = {
    "total": _("Total"),
    "female": _("female"),
    "male": _("male"),
    "diverse": _("diverse"),
    "not_stated": _("not stated"),
}

TERMS: dict[str, str] = {
    "title": _("ESF+ report"),
    "subtitle": _("Common indicators under Regulation (EU) 2021/1057, Annex I"),
    "section": _("Section"),
    "code": _("Code"),
    "key": _("Key"),
    "indicator": _("Indicator"),
    "count": _("Count"),
    "attribute": _("Attribute"),
    "period": _("Period"),
    "period_from": _("From (inclusive)"),
    "period_to": _("To (exclusive)"),
    "period_range": _("{start} to {end} (end not included)"),
    "period_since": _("From {start}"),
    "period_before": _("Before {end}"),
    "period_all": _("Everything recorded until the report was made"),
    "made_at": _("Made at"),
    "made_at_utc": _("Made at (UTC)"),
    "log_position": _("Log position"),
    "topic": _("Topic"),
    "partition": _("Partition"),
    "next_offset": _("Next offset not yet counted"),
    "reproduce": _("Reproduce with"),
    "reproduce_note": _(
        "Every figure can be reproduced from the event log alone with the command below."
    ),
    "gender_note": _("A refused gender is counted as not stated."),
    "report_sheet": _("Report"),
    "stamp_sheet": _("Stamp"),
    "page": _("Page {page} of {pages}"),
}
"""Headings and phrases of the files, by a stable name."""


def term(name: str, lang: str) -> str:
    """The heading or phrase `name` of TERMS in `lang`."""
    return label(TERMS[name], lang)


def messages() -> list[str]:
    """Every message of the report, once each, in a stable order (for the catalogue)."""
    found: list[str] = []
    for section in SECTIONS:
        found += [section.title, *(section.messages[key] for key in section.keys)]
    found += [*FIGURE_MESSAGES.values(), *TERMS.values()]
    return list(dict.fromkeys(found))
