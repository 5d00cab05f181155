-- Rules that need state are judged in the fold: an event that breaks one is
-- not applied but recorded here with its reason, for the partner that emitted
-- it. Derived from the log like every other read-model table.
CREATE TABLE IF NOT EXISTS rejections (
    event_id text PRIMARY KEY,
    partner_id text NOT NULL,
    participant_id text NOT NULL,
    type text NOT NULL,
    reason text NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    partition integer NOT NULL,
    "offset" bigint NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now()
);
-- A partner's rejections, newest recorded first.
CREATE INDEX IF NOT EXISTS rejections_partner ON rejections (partner_id, recorded_at DESC, event_id);

-- The closed referral loop: a referral its sender withdrew (retracted its
-- referral.sent) stays in the sender's outbox as 'withdrawn'; every count
-- leaves it out, as if it had never been sent.
ALTER TABLE referrals DROP CONSTRAINT IF EXISTS referrals_state_check;
ALTER TABLE referrals ADD CONSTRAINT referrals_state_check
    CHECK (state IN ('pending', 'accepted', 'declined', 'withdrawn'));
ALTER TABLE referrals ADD COLUMN IF NOT EXISTS withdrawn_at timestamptz;  -- when it was withdrawn
