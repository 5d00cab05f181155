"""Exporting the log to an archive: every partition from offset 0 up to a cut-off instant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from refnet.events.errors import LogUnavailable
from refnet.events.kafka_client import client_config
from refnet.events.settings import Settings
from refnet.projections.worker.log_reader import log_ends, read_log
from refnet.services.archive.format import _EPOCH, ArchiveError, Manifest, Progress
from refnet.services.archive.writer import write_archive

# ---------------------------------------------------------------- exporting


def parse_until(text: str) -> datetime:
    """An ISO 8601 date or date-time, UTC when it has no offset; a date means its last moment."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) - timedelta(milliseconds=1)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ArchiveError(f"--until: {text!r} is not an ISO 8601 date or date-time") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def ends_until(settings: Settings, ends: Mapping[int, int], until: datetime) -> dict[int, int]:
    """Each partition's end (exclusive) of the prefix whose records are stamped at or before
    `until`: the first offset stamped later, found with the broker's time index."""
    stamp_ms = (until - _EPOCH) // timedelta(milliseconds=1)  # exact: no float rounding
    topic = settings.topic_events
    consumer = Consumer(
        client_config(settings)
        | {"group.id": f"{settings.consumer_group}-archive", "enable.auto.commit": False}
    )
    try:
        wanted = [TopicPartition(topic, p, stamp_ms + 1) for p in sorted(ends)]
        found = consumer.offsets_for_times(wanted, timeout=30)
    except KafkaException as exc:
        raise LogUnavailable(f"cannot look up offsets by time in {topic}: {exc}") from exc
    finally:
        consumer.close()
    cut = {}
    for tp in found:
        if tp.error is not None:
            raise LogUnavailable(f"{topic}[{tp.partition}]: {tp.error}")
        # -1: nothing stamped later, so the whole partition (as of the start) belongs.
        end = ends[tp.partition] if tp.offset < 0 else tp.offset
        cut[tp.partition] = min(end, ends[tp.partition])
    return cut


@dataclass(frozen=True)
class ExportPlan:
    """Where each partition's file ends, fixed before anything is read."""

    log_ends: dict[int, int]
    ends: dict[int, int]
    until: datetime | None

    @property
    def records(self) -> int:
        return sum(self.ends.values())


def plan_export(settings: Settings, until: datetime | None) -> ExportPlan:
    ends = log_ends(settings)
    cut = ends_until(settings, ends, until) if until is not None else dict(ends)
    return ExportPlan(ends, cut, until)


def export_archive(
    settings: Settings,
    folder: Path,
    plan: ExportPlan,
    keys: Sequence[Mapping[str, Any]],
    on_progress: Progress | None = None,
) -> Manifest:
    """Write the log's prefix given by `plan`, with `keys`, as an archive in `folder`."""
    records = read_log(settings, plan.ends, on_progress=on_progress)
    return write_archive(
        folder, settings.topic_events, plan.ends, records, keys, plan.log_ends, plan.until
    )
