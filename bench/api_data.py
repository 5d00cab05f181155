"""A generated read model for bench.api: N participants over two years, made in PostgreSQL.

The rows are made by `generate_series` in the server (no Python in the loop),
from a fixed seed, with the demo network's proportions: 36 % placed (half
apprenticeships), 60 % referred once and 20 % twice among partners that each
refer to six others, a third in training, half exited. Then the kept counts
are recounted from them as a migration would, and timed.
"""

from __future__ import annotations

import time

from bench import pg
from refnet.projections.store.counts import recount_all
from refnet.projections.store.migrate import migrate

SITES, PARTNERS = 40, 60
START = "2024-01-01T00:00:00+01"
# random() after setseed() is repeatable within one session and one plan.
_PEOPLE = f"""
INSERT INTO participants (participant_id, enrolled, first_enrolled_at, site, first_partner,
  placed_at, placement_kind, placement_partner, exited_at)
SELECT 'p' || lpad(g::text, 8, '0'), true, enrolled_at,
  'site-' || (g % {SITES}), 'partner-' || (g % {PARTNERS}),
  CASE WHEN r1 < 0.36 THEN enrolled_at + (30 + r2 * 300) * interval '1 day' END,
  CASE WHEN r1 < 0.36 THEN CASE WHEN r1 < 0.18 THEN 'apprenticeship' ELSE 'employment' END END,
  CASE WHEN r1 < 0.36 THEN 'partner-' || ((g * 7) % {PARTNERS}) END,
  CASE WHEN r3 < 0.5 THEN enrolled_at + (60 + r3 * 600) * interval '1 day' END
FROM (
  SELECT g, timestamptz '{START}' + random() * interval '730 days' AS enrolled_at,
    random() AS r1, random() AS r2, random() AS r3
  FROM generate_series(1, $1) AS g
) AS people
"""
_LINKS = """
INSERT INTO partner_links (partner_id, participant_id, role, since)
SELECT first_partner, participant_id, 'enrolled', first_enrolled_at FROM participants
UNION ALL
SELECT placement_partner, participant_id, 'placed', placed_at FROM participants
WHERE placed_at IS NOT NULL
"""
_REFERRALS = f"""
INSERT INTO referrals (participant_id, referral_id, from_partner, to_partner, service, site,
  sent_at, state, answered_at)
SELECT participant_id, 'r' || k, first_partner,
  'partner-' || ((substr(first_partner, 9)::int + 1 + (k + n) % 6) % {PARTNERS}),
  'counselling', site, sent_at,
  CASE WHEN s < 0.55 THEN 'accepted' WHEN s < 0.75 THEN 'declined'
       WHEN s < 0.95 THEN 'pending' ELSE 'withdrawn' END,
  CASE WHEN s < 0.75 THEN sent_at + random() * 30 * interval '1 day' END
FROM (
  SELECT p.participant_id, p.first_partner, p.site, k, n,
    p.first_enrolled_at + (k * 20 + random() * 20) * interval '1 day' AS sent_at,
    random() AS s
  FROM (SELECT *, row_number() OVER () AS n FROM participants) p
  CROSS JOIN generate_series(1, 2) AS k
  WHERE (k = 1 AND p.n % 10 < 6) OR (k = 2 AND p.n % 10 < 2)
) AS sent
"""
_ACCEPTED = """
INSERT INTO partner_links (partner_id, participant_id, role, since)
SELECT DISTINCT ON (to_partner, participant_id) to_partner, participant_id, 'accepted', answered_at
FROM referrals WHERE state = 'accepted'
ON CONFLICT DO NOTHING
"""
_TRAININGS = """
INSERT INTO trainings (participant_id, training_id, partner_id, kind, started_at, ended_at)
SELECT participant_id, 't1', first_partner, 'language_course', started,
  CASE WHEN random() < 0.7 THEN started + (20 + random() * 160) * interval '1 day' END
FROM (
  SELECT participant_id, first_partner,
    first_enrolled_at + random() * 60 * interval '1 day' AS started
  FROM participants WHERE hashtext(participant_id) % 3 = 0
) AS trained
"""


async def generate(dsn: str, schema: str, registry: str, participants: int) -> dict[str, float]:
    """Fill `schema` with the generated rows and their kept counts; seconds per step."""
    conn = await pg.connect(dsn, schema)
    seconds: dict[str, float] = {}
    try:
        await migrate(conn, schema, registry)
        await conn.execute(f'SET search_path TO "{schema}", public')
        await conn.execute("SELECT setseed(0.2026)")
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(_PEOPLE, participants)
            for sql in (_LINKS, _REFERRALS, _ACCEPTED, _TRAININGS):
                await conn.execute(sql)
        seconds["rows"] = time.perf_counter() - started
        started = time.perf_counter()
        async with conn.transaction():
            await recount_all(conn)
        seconds["recount"] = time.perf_counter() - started
        for table in ("participants", "referrals", "trainings", "partner_links", "read_counts"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
    return seconds
