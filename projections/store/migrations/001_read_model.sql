-- The read model of the outcome projection. Every table is derived from the
-- event log and can be dropped and rebuilt from it.

CREATE TABLE IF NOT EXISTS participant_state (
    participant_id text PRIMARY KEY,
    facts jsonb NOT NULL                      -- the fold's input: every distinct fact
);

CREATE TABLE IF NOT EXISTS participants (
    participant_id text PRIMARY KEY,
    enrolled boolean NOT NULL,
    first_enrolled_at timestamptz,
    site text,
    first_partner text,
    gender text,
    age_band text,
    education_level text,
    employment_status text,
    third_country_national text,
    residence_status text,
    placed_at timestamptz,
    placement_kind text,
    placement_partner text,
    exited_at timestamptz,
    leaving_situation text,
    followup_situation text
);
CREATE INDEX IF NOT EXISTS participants_enrolled_at ON participants (first_enrolled_at);
CREATE INDEX IF NOT EXISTS participants_placed_at ON participants (placed_at);

CREATE TABLE IF NOT EXISTS referrals (
    participant_id text NOT NULL,
    referral_id text NOT NULL,
    from_partner text NOT NULL,
    to_partner text NOT NULL,
    service text NOT NULL,
    site text NOT NULL,
    sent_at timestamptz NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'accepted', 'declined')),
    answered_at timestamptz,
    decline_reason text,
    PRIMARY KEY (participant_id, referral_id)
);
CREATE INDEX IF NOT EXISTS referrals_to ON referrals (to_partner, state, sent_at);
CREATE INDEX IF NOT EXISTS referrals_from ON referrals (from_partner, sent_at);

CREATE TABLE IF NOT EXISTS trainings (
    participant_id text NOT NULL,
    training_id text NOT NULL,
    partner_id text NOT NULL,
    kind text NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    outcome text,
    PRIMARY KEY (participant_id, training_id)
);

CREATE TABLE IF NOT EXISTS partner_links (
    partner_id text NOT NULL,
    participant_id text NOT NULL,
    role text NOT NULL CHECK (role IN ('enrolled', 'accepted', 'placed')),
    since timestamptz NOT NULL,
    PRIMARY KEY (partner_id, participant_id, role)
);
CREATE INDEX IF NOT EXISTS partner_links_participant ON partner_links (participant_id);

-- The position of the projection in each partition of the log, written in the
-- same transaction as the rows it produced: the next offset to apply.
CREATE TABLE IF NOT EXISTS projection_offsets (
    projection text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL DEFAULT 0 CHECK (next_offset >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition)
);

-- Events the projection could not decode or validate, parked with the reason.
CREATE TABLE IF NOT EXISTS dead_letters (
    topic text NOT NULL,
    partition integer NOT NULL,
    "offset" bigint NOT NULL,
    event_id text,
    reason text NOT NULL,
    payload bytea NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);
