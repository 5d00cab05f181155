"""The ESF+ report (PRODUCT.md, "The ESF+ report"): the funder's common indicators.

`EsfTally` counts read-model participant rows, one at a time, and `esf_report`
runs it over an iterable: the one implementation of the counting. The API
streams the rows of the live read model into it (`network_esf`); the audit view
and `refnet audit replay --esf` derive the rows from folded states as of an
instant (`esf_asof.py`) and count them with the same tally.

What counts per participant was decided by the fold (`fold/derive.py`): the
first enrolment's attributes, the leaving date, the situation on leaving and
the six-month result. Here the rows are only selected by period and counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from refnet.events.fields import format_utc
from refnet.projections.fold.rows import ParticipantRow
from refnet.projections.store.database import Conn
from refnet.projections.store.schema import PROJECTION, READ_OFFSETS, TIME_COLUMNS
from refnet.projections.store.views import Period

OUTPUT_KEYS: tuple[str, ...] = (
    "EECO01", "EECO02", "EECO03", "EECO04", "EECO05", "EECO06",
    "EECO07", "EECO08", "EECO09", "EECO10", "EECO11", "third_country_nationals",
)  # fmt: skip
"""The output indicators, in the order of the report."""

OUTPUT_LABELS: dict[str, str] = {
    "EECO01": "participants",
    "EECO02": "unemployed, including long-term unemployed",
    "EECO03": "long-term unemployed",
    "EECO04": "inactive",
    "EECO05": "employed, including self-employed",
    "EECO06": "under 18",
    "EECO07": "aged 18-29",
    "EECO08": "aged 55 and over",
    "EECO09": "ISCED 0-2",
    "EECO10": "ISCED 3-4",
    "EECO11": "ISCED 5-8",
    "third_country_nationals": "third-country nationals",
}
"""English descriptions of the output indicators (PRODUCT.md's table)."""

REFUSED_KEYS: tuple[str, ...] = (
    "gender", "age_band", "education_level", "employment_status", "third_country_national",
)  # fmt: skip
"""The sensitive attributes whose refusals are counted, in report order."""

SITUATION_KEYS: tuple[str, ...] = (
    "job_searching", "in_education_or_training", "gained_qualification", "in_employment", "other",
)  # fmt: skip
"""The situations of both result sections, in report order (the catalogue's `Situation`)."""

LEAVING_KEYS: tuple[str, ...] = ("left", *SITUATION_KEYS)
"""The keys of `results_on_leaving`: those who left, then their situation on leaving."""

SIX_MONTH_KEYS: tuple[str, ...] = ("followed_up", *SITUATION_KEYS)
"""The keys of `results_six_months`: those with a result, then their situation."""

RESULT_CODES: dict[str, str] = {"job_searching": "EECR01", "in_employment": "EECR04"}
"""Commission codes of the situations on leaving the report is sure of."""

GENDER_KEYS: tuple[str, ...] = ("female", "male", "diverse", "not_stated")
"""The gender split of every box, after `total`."""

REFUSED = "refused"


class _Report(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class GenderSplit(_Report):
    """One box of the report: a count and its split by gender."""

    total: int = 0
    female: int = 0
    male: int = 0
    diverse: int = 0
    not_stated: int = Field(0, description="gender not stated or refused")


class LogPosition(_Report):
    """Where in the log the read model was when the report was counted."""

    topic: str
    next_offsets: dict[int, int] = Field(
        description="per partition, the next offset the read model had not yet applied"
    )


class EsfPeriod(_Report):
    """The period counted, `from` inclusive and `to` exclusive, and the report's stamp."""

    from_: datetime | None = Field(None, alias="from", serialization_alias="from")
    to: datetime | None = None
    as_of: datetime = Field(description="the instant the report was made (UTC)")
    log_position: LogPosition


class Output(_Report):
    """Participants by their first enrolment in the period, and their attributes at it."""

    EECO01: GenderSplit = Field(description=OUTPUT_LABELS["EECO01"])
    EECO02: GenderSplit = Field(description=OUTPUT_LABELS["EECO02"])
    EECO03: GenderSplit = Field(description=OUTPUT_LABELS["EECO03"])
    EECO04: GenderSplit = Field(description=OUTPUT_LABELS["EECO04"])
    EECO05: GenderSplit = Field(description=OUTPUT_LABELS["EECO05"])
    EECO06: GenderSplit = Field(description=OUTPUT_LABELS["EECO06"])
    EECO07: GenderSplit = Field(description=OUTPUT_LABELS["EECO07"])
    EECO08: GenderSplit = Field(description=OUTPUT_LABELS["EECO08"])
    EECO09: GenderSplit = Field(description=OUTPUT_LABELS["EECO09"])
    EECO10: GenderSplit = Field(description=OUTPUT_LABELS["EECO10"])
    EECO11: GenderSplit = Field(description=OUTPUT_LABELS["EECO11"])
    third_country_nationals: GenderSplit = Field(
        description=OUTPUT_LABELS["third_country_nationals"]
    )


class Refused(_Report):
    """Participants of the output section who refused to give an attribute."""

    gender: int
    age_band: int
    education_level: int
    employment_status: int
    third_country_national: int


class ResultsOnLeaving(_Report):
    """Participants by leaving date in the period, and their one situation on leaving."""

    left: GenderSplit = Field(description="participants who left")
    job_searching: GenderSplit = Field(description="EECR01: job searching on leaving")
    in_education_or_training: GenderSplit
    gained_qualification: GenderSplit
    in_employment: GenderSplit = Field(description="EECR04: in employment on leaving")
    other: GenderSplit


class ResultsSixMonths(_Report):
    """Participants by leaving date in the period, and their situation 150-240 days later."""

    followed_up: GenderSplit = Field(description="participants with a six-month result")
    job_searching: GenderSplit
    in_education_or_training: GenderSplit
    gained_qualification: GenderSplit
    in_employment: GenderSplit
    other: GenderSplit


class EsfReport(_Report):
    """The ESF+ common indicators of a period, stamped with when and where it was counted."""

    period: EsfPeriod
    output: Output
    refused: Refused
    results_on_leaving: ResultsOnLeaving
    results_six_months: ResultsSixMonths


# ------------------------------------------------------------------ counting

_EMPLOYMENT = {  # the output indicators of each employment status at entry
    "unemployed": ("EECO02",),
    "long_term_unemployed": ("EECO02", "EECO03"),
    "inactive": ("EECO04",),
    "employed": ("EECO05",),
}
_AGE = {"under_18": ("EECO06",), "18_29": ("EECO07",), "55_plus": ("EECO08",)}
_EDUCATION = {"isced_0_2": ("EECO09",), "isced_3_4": ("EECO10",), "isced_5_8": ("EECO11",)}
_GENDERS = frozenset(GENDER_KEYS)


class _Boxes:
    """Counts per box key and gender, filled one participant at a time."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.counts: dict[str, dict[str, int]] = {k: dict.fromkeys(GENDER_KEYS, 0) for k in keys}

    def add(self, keys: Iterable[str], gender: str) -> None:
        for key in keys:
            self.counts[key][gender] += 1

    def splits(self) -> dict[str, GenderSplit]:
        return {key: GenderSplit(total=sum(by.values()), **by) for key, by in self.counts.items()}


def _gender(row: ParticipantRow) -> str:
    # A refusal, like a missing value, is reported as not stated.
    return row.gender if row.gender in _GENDERS and row.gender is not None else "not_stated"


def _within(stamp: str | None, start: str | None, end: str | None) -> bool:
    """`stamp` (canonical UTC text, so text order is time order) lies in [start, end)."""
    if stamp is None:
        return False
    return (start is None or stamp >= start) and (end is None or stamp < end)


def _output_keys(row: ParticipantRow) -> list[str]:
    keys = ["EECO01"]
    keys += _EMPLOYMENT.get(row.employment_status or "", ())
    keys += _AGE.get(row.age_band or "", ())
    keys += _EDUCATION.get(row.education_level or "", ())
    if row.third_country_national == "true":
        keys.append("third_country_nationals")
    return keys


class EsfTally:
    """The report's counts, one participant row at a time: a cursor can feed it in constant
    memory. Only participants with a live enrolment count; the output section takes those
    whose first enrolment lies in the period, the result sections those whose leaving date
    does. A `refused` attribute counts in no indicator (only in EECO01 and in `refused`).
    """

    def __init__(self, period: Period) -> None:
        self.first, self.last = _utc(period.from_), _utc(period.to)
        self._start = format_utc(self.first) if self.first is not None else None
        self._end = format_utc(self.last) if self.last is not None else None
        self.output, self.leaving = _Boxes(OUTPUT_KEYS), _Boxes(LEAVING_KEYS)
        self.later = _Boxes(SIX_MONTH_KEYS)
        self.refused = dict.fromkeys(REFUSED_KEYS, 0)

    def add(self, row: ParticipantRow) -> None:
        if not row.enrolled or row.first_enrolled_at is None:
            return
        gender = _gender(row)
        if _within(row.first_enrolled_at, self._start, self._end):
            self.output.add(_output_keys(row), gender)
            for key in REFUSED_KEYS:
                self.refused[key] += getattr(row, key) == REFUSED
        if _within(row.exited_at, self._start, self._end):
            self.leaving.add(["left", *_situation(row.leaving_situation)], gender)
            if row.followup_situation is not None:
                self.later.add(["followed_up", *_situation(row.followup_situation)], gender)

    def report(self, as_of: datetime, log_position: LogPosition) -> EsfReport:
        """The report of the rows added so far, stamped `as_of` at `log_position`."""
        stamp = {"from": self.first, "to": self.last, "as_of": _utc(as_of)}
        return EsfReport(
            period=EsfPeriod.model_validate(stamp | {"log_position": log_position}),
            output=Output.model_validate(self.output.splits()),
            refused=Refused.model_validate(self.refused),
            results_on_leaving=ResultsOnLeaving.model_validate(self.leaving.splits()),
            results_six_months=ResultsSixMonths.model_validate(self.later.splits()),
        )


def esf_report(
    rows: Iterable[ParticipantRow],
    period: Period,
    as_of: datetime,
    log_position: LogPosition,
) -> EsfReport:
    """PRODUCT.md's ESF+ report over the participants' rows, stamped `as_of` at `log_position`."""
    tally = EsfTally(period)
    for row in rows:
        tally.add(row)
    return tally.report(as_of, log_position)


def _utc(value: datetime | None) -> datetime | None:
    # A bound without an offset is UTC, as everywhere in the API.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _situation(value: str | None) -> tuple[str, ...]:
    return (value,) if value in SITUATION_KEYS else ()


# ------------------------------------------------------------------ the read model

_COLUMNS = ParticipantRow.columns()
_ROWS = f"SELECT {', '.join(_COLUMNS)} FROM participants WHERE enrolled"  # names from the row


async def network_esf(conn: Conn, period: Period, topic: str) -> EsfReport:
    """The ESF+ report of the live read model, stamped now and with its offsets.

    Rows and offsets come from one repeatable-read snapshot, so the figures are
    exactly those of the log up to the stamped offsets. Rows stream through a cursor.
    """
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        offsets = await conn.fetch(READ_OFFSETS, PROJECTION, topic)
        made = datetime.now(UTC)  # after the snapshot began: all it holds was recorded before
        tally = EsfTally(period)
        async for record in conn.cursor(_ROWS, prefetch=2000):
            tally.add(ParticipantRow(*(_text(c, record[c]) for c in _COLUMNS)))
    return tally.report(made, log_position(topic, offsets))


def log_position(topic: str, offsets: Iterable[asyncpg.Record]) -> LogPosition:
    """The stamp of a report counted at these `projection_offsets` rows."""
    return LogPosition(
        topic=topic, next_offsets={o["partition"]: o["next_offset"] for o in offsets}
    )


def _text(column: str, value: Any) -> Any:
    # The fold's rows hold instants as canonical UTC text; the table holds timestamptz.
    if column in TIME_COLUMNS and isinstance(value, datetime):
        return format_utc(value)
    return value
