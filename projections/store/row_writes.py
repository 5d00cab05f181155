"""Writing derived rows: one COPY per table, and rejections once each.

The live store, the re-derivation of stored states and the offline rebuild all
write the rows `projections/fold/derive.py` makes; this is the one place that
turns them into PostgreSQL rows.
"""

from __future__ import annotations

from datetime import datetime

from refnet.projections.fold.rows import (
    ConsentRow,
    ContactRow,
    ParticipantRow,
    ParticipantRows,
    PartnerLinkRow,
    ReferralRow,
    RejectionRow,
    TrainingRow,
)
from refnet.projections.store.database import Conn
from refnet.projections.store.schema import TIME_COLUMNS

# A rejection is recorded once: a redelivery is a duplicate in the fold, and
# an event_id reused under another participant keeps the first row.
_REJECT = """
INSERT INTO rejections (
  event_id, partner_id, participant_id, type, reason, occurred_at, recorded_at, partition, "offset"
)
SELECT * FROM unnest(
  $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
  $7::timestamptz[], $8::int[], $9::bigint[]
)
ON CONFLICT DO NOTHING
"""


async def copy_derived(conn: Conn, derived: list[ParticipantRows]) -> None:
    """COPY participants' derived rows into their tables, one COPY per table."""
    participants: list[ParticipantRow] = []
    referrals: list[ReferralRow] = []
    trainings: list[TrainingRow] = []
    links: list[PartnerLinkRow] = []
    contacts: list[ContactRow] = []
    consents: list[ConsentRow] = []
    for rows in derived:
        participants.append(rows.participant)
        referrals.extend(rows.referrals)
        trainings.extend(rows.trainings)
        links.extend(rows.links)
        if rows.contact is not None:
            contacts.append(rows.contact)
        consents.extend(rows.consents)
    for table in (participants, referrals, trainings, links, contacts, consents):
        await copy_rows(conn, table)


async def reject(conn: Conn, rows: list[RejectionRow]) -> None:
    await conn.execute(
        _REJECT,
        [r.event_id for r in rows],
        [r.partner_id for r in rows],
        [r.participant_id for r in rows],
        [r.type for r in rows],
        [r.reason for r in rows],
        [datetime.fromisoformat(r.occurred_at) for r in rows],
        [datetime.fromisoformat(r.recorded_at) for r in rows],
        [r.partition for r in rows],
        [r.offset for r in rows],
    )


async def copy_rows(
    conn: Conn,
    rows: list[ParticipantRow]
    | list[ReferralRow]
    | list[TrainingRow]
    | list[PartnerLinkRow]
    | list[RejectionRow]
    | list[ContactRow]
    | list[ConsentRow],
) -> None:
    """COPY rows of one table (all of one class) into it, times parsed from ISO text."""
    if not rows:
        return
    columns = rows[0].columns()
    times = [n for n, c in enumerate(columns) if c in TIME_COLUMNS]
    records = []
    for row in rows:
        values = list(row.values())
        for n in times:
            if values[n] is not None:
                values[n] = datetime.fromisoformat(values[n])
        records.append(values)
    await conn.copy_records_to_table(rows[0].TABLE, records=records, columns=columns)
