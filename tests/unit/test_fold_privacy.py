"""The fold's privacy rows: standing consents, the contact reference, erasure and key destruction.

Then the one decision every view uses: who may see the contact details.

Consent: the latest live statement per (purpose, recipient) by occurred_at, ties by
log order; the enrolment's `consent_to_share` is a statement of `share_case_data`
for the whole network. Contact: the latest live `participant.contact_recorded`,
as a ciphertext reference only.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from refnet.events.catalogue import NETWORK, EventModel, SealedData
from refnet.projections.fold.derive import DERIVE_VERSION
from refnet.projections.fold.rows import ConsentRow, ContactRow
from refnet.projections.fold.rules import Status, Verdict
from refnet.projections.store.contacts import (
    Access,
    Consent,
    SealedContact,
    Standing,
    consent_covers,
    decide,
)
from tests.unit.history import PID, day, ev, fold, retract, stamp
from tests.unit.outcome_events import enrol, verdicts

CONTACT = "pass_contact_details"


def consent(
    given: bool, at: int, recipient: str | None = None, purpose: str = CONTACT, **kw: Any
) -> EventModel:
    kind = "consent.given" if given else "consent.withdrawn"
    return ev(kind, "awo-en", day(at), purpose=purpose, recipient=recipient, **kw)


def standing(*events: EventModel) -> dict[tuple[str, str | None], tuple[bool, str]]:
    return {(c.purpose, c.recipient): (c.given, c.since) for c in fold(*events).consents}


def contact(at: int, key_id: str = "k7Qm2xP9vL4wR1sT", by: str = "awo-en") -> EventModel:
    sealed = {
        "alg": "AES-256-GCM",
        "key_id": key_id,
        "nonce": "bX3kQ9mZ2pL7vR1s",
        "ciphertext": "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5",
    }
    return ev("participant.contact_recorded", by, day(at), sealed=sealed)


def test_the_derive_version_is_3() -> None:
    assert DERIVE_VERSION == 3


# ------------------------------------------------------------------ consent


def test_a_consent_given_stands_then_a_later_withdrawal_then_a_new_consent() -> None:
    given, withdrawn, again = consent(True, 2), consent(False, 5), consent(True, 9)

    assert standing(enrol(), given)[(CONTACT, None)] == (True, stamp(day(2)))
    assert standing(enrol(), given, withdrawn)[(CONTACT, None)] == (False, stamp(day(5)))
    assert standing(enrol(), given, withdrawn, again)[(CONTACT, None)] == (True, stamp(day(9)))


def test_the_latest_by_occurred_at_decides_not_the_log_order() -> None:
    late_recorded_withdrawal = consent(False, 3)
    later_consent = consent(True, 6)

    rows = standing(enrol(), later_consent, late_recorded_withdrawal)

    assert rows[(CONTACT, None)] == (True, stamp(day(6)))


def test_at_the_same_instant_the_log_order_decides() -> None:
    first, second = consent(True, 4), consent(False, 4)

    assert standing(enrol(), first, second)[(CONTACT, None)] == (False, stamp(day(4)))
    assert standing(enrol(), second, first)[(CONTACT, None)] == (True, stamp(day(4)))


def test_consent_to_one_recipient_is_its_own_row_beside_the_network_wide_one() -> None:
    rows = standing(enrol(), consent(True, 2, "bobeq"), consent(False, 3))

    assert rows[(CONTACT, "bobeq")] == (True, stamp(day(2)))
    assert rows[(CONTACT, None)] == (False, stamp(day(3)))
    assert rows[(CONTACT, "bobeq")] != rows.get((CONTACT, "jobcenter-en"))


def test_a_withdrawal_from_one_recipient_leaves_the_others() -> None:
    rows = standing(enrol(), consent(True, 2, "bobeq"), consent(True, 2, "caritas-witten"),
                    consent(False, 6, "bobeq"))  # fmt: skip

    assert rows[(CONTACT, "bobeq")] == (False, stamp(day(6)))
    assert rows[(CONTACT, "caritas-witten")] == (True, stamp(day(2)))


def test_a_retracted_consent_never_stood() -> None:
    given = consent(True, 2)
    (_, _, verdict), rows = verdicts(enrol(), given, retract(given, at=day(3)))

    assert verdict.status is Status.APPLIED
    assert (CONTACT, None) not in {(c.purpose, c.recipient) for c in rows.consents}


def test_a_retracted_withdrawal_brings_the_consent_back() -> None:
    given, withdrawn = consent(True, 2), consent(False, 5)

    rows = standing(enrol(), given, withdrawn, retract(withdrawn, at=day(6)))

    assert rows[(CONTACT, None)] == (True, stamp(day(2)))


def test_only_the_partner_that_recorded_a_consent_retracts_it() -> None:
    given = consent(True, 2)
    (*_, verdict), rows = verdicts(enrol(), given, retract(given, partner="bobeq", at=day(3)))

    assert verdict.status is Status.REJECTED
    assert standing(enrol(), given)[(CONTACT, None)][0] is True
    assert rows.consents[-1] == ConsentRow(PID, "share_case_data", None, True, stamp(day(1)))


def test_the_enrolment_consent_to_share_is_network_wide_share_case_data() -> None:
    rows = standing(enrol())
    assert rows == {("share_case_data", None): (True, stamp(day(1)))}

    refused = ev("participant.enrolled", "awo-en", day(1), consent_to_share=False)
    assert standing(refused) == {("share_case_data", None): (False, stamp(day(1)))}


def test_a_later_consent_event_decides_share_case_data_over_the_enrolment() -> None:
    withdrawn = consent(False, 4, purpose="share_case_data")
    assert standing(enrol(), withdrawn)[("share_case_data", None)] == (False, stamp(day(4)))

    # An earlier consent event is overtaken by the enrolment that follows it.
    early = consent(False, 0, purpose="share_case_data")
    assert standing(early, enrol())[("share_case_data", None)] == (True, stamp(day(1)))


def test_the_enrolment_says_nothing_about_passing_contact_details() -> None:
    assert (CONTACT, None) not in standing(enrol())


def test_consent_needs_no_enrolment_so_a_withdrawal_is_never_lost() -> None:
    (verdict,), rows = verdicts(consent(False, 1))

    assert verdict == Verdict(Status.APPLIED)
    assert rows.participant.enrolled is False
    assert rows.consents == [ConsentRow(PID, CONTACT, None, False, stamp(day(1)))]


# ------------------------------------------------------------------ contact


def test_the_latest_live_contact_is_a_ciphertext_reference() -> None:
    first, latest = contact(2, "firstKey0001"), contact(7, "latestKey002")

    row = fold(enrol(), latest, first).contact

    assert isinstance(row, ContactRow)
    assert (row.event_id, row.key_id) == (str(latest.event_id), "latestKey002")
    assert (row.partner_id, row.occurred_at) == ("awo-en", stamp(day(7)))
    assert json.loads(row.sealed) == latest.model_dump(mode="json")["data"]["sealed"]


def test_a_retracted_contact_gives_way_to_the_one_before() -> None:
    first, wrong = contact(2, "firstKey0001"), contact(5, "wrongKey0002")

    row = fold(enrol(), first, wrong, retract(wrong, at=day(6))).contact

    assert row is not None and row.event_id == str(first.event_id)
    assert fold(enrol(), first, retract(first, at=day(3))).contact is None


def test_contact_details_need_an_enrolled_participant() -> None:
    (verdict,), rows = verdicts(contact(1))

    assert verdict == Verdict(Status.REJECTED, f"participant {PID} is not enrolled")
    assert rows.contact is None


def test_no_contact_recorded_no_row() -> None:
    assert fold(enrol()).contact is None


# ------------------------------------------------------------------ erasure


def erasure(at: int, by: str = NETWORK) -> EventModel:
    return ev("privacy.erasure_requested", by, day(at))


def destroyed(at: int, by: str = NETWORK) -> EventModel:
    return ev("privacy.key_destroyed", by, day(at))


def test_erasure_and_key_destruction_are_marked_on_the_participant() -> None:
    row = fold(enrol(), erasure(5), erasure(3), destroyed(9), destroyed(12)).participant

    assert row.erasure_requested_at == stamp(day(3))
    assert row.key_destroyed_at == stamp(day(9))
    assert (row.enrolled, row.first_enrolled_at) == (True, stamp(day(1)))


def test_a_participant_without_them_has_neither() -> None:
    row = fold(enrol()).participant
    assert (row.erasure_requested_at, row.key_destroyed_at) == (None, None)


def test_a_retracted_erasure_request_restricts_nothing() -> None:
    request = erasure(3)
    assert (
        fold(enrol(), request, retract(request, at=day(4))).participant.erasure_requested_at is None
    )


def test_only_the_network_records_erasure_and_key_destruction() -> None:
    (_, refused_request, refused_key), rows = verdicts(enrol(), erasure(3, "awo-en"),
                                                       destroyed(4, "awo-en"))  # fmt: skip

    assert refused_request.reason == "only the network (network) records privacy.erasure_requested"
    assert refused_key.status is Status.REJECTED
    assert rows.participant.erasure_requested_at is None


def test_a_key_destruction_cannot_be_retracted() -> None:
    gone = destroyed(4)
    (*_, verdict), rows = verdicts(enrol(), gone, retract(gone, at=day(5)))

    assert verdict.status is Status.REJECTED
    assert "cannot be undone" in (verdict.reason or "")
    assert rows.participant.key_destroyed_at == stamp(day(4))


def test_an_erasure_request_needs_no_enrolment() -> None:
    (verdict,), rows = verdicts(erasure(2))
    assert verdict.status is Status.APPLIED
    assert rows.participant.erasure_requested_at == stamp(day(2))


# ------------------------------------------------------------------ who may see them

RECEIVER = "jobcenter-en"
SEALED = SealedContact(
    PID, "6d1f8a52-3c1e-4f0e-9b7a-5d8e0c4b2a10", "awo-en",
    SealedData(key_id="k7Qm2xP9vL4wR1sT", nonce="bX3kQ9mZ2pL7vR1s",
               ciphertext="Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"),
)  # fmt: skip


def seen_by(partner: str = RECEIVER, *consents: Consent, **standing: Any) -> str | None:
    """Why `partner` may not see them (None: it may), for a receiver of a live referral."""
    facts: dict[str, Any] = {"receives_referral": True, "contact": SEALED} | standing
    access = decide(partner, Standing(PID, consents=consents, **facts))
    return None if access.withheld is None else str(access.withheld)


def at(n: int) -> dt.datetime:
    return day(n)


def test_a_receiver_sees_them_with_network_wide_or_its_own_consent() -> None:
    assert seen_by(RECEIVER, Consent(None, True, at(1))) is None
    assert seen_by(RECEIVER, Consent(RECEIVER, True, at(1))) is None
    assert seen_by(RECEIVER) == f"no consent to pass contact details to {RECEIVER}"
    assert seen_by(RECEIVER, Consent("bobeq", True, at(1))) is not None


def test_the_later_statement_decides_and_a_withdrawal_wins_a_tie() -> None:
    network_then_withdrawn_for_me = (Consent(None, True, at(1)), Consent(RECEIVER, False, at(2)))
    mine_then_withdrawn_for_all = (Consent(RECEIVER, True, at(1)), Consent(None, False, at(2)))
    withdrawn_then_given_to_me = (Consent(None, False, at(1)), Consent(RECEIVER, True, at(2)))
    tie = (Consent(None, True, at(1)), Consent(RECEIVER, False, at(1)))

    assert seen_by(RECEIVER, *network_then_withdrawn_for_me) is not None
    assert seen_by(RECEIVER, *mine_then_withdrawn_for_all) is not None
    assert seen_by(RECEIVER, *withdrawn_then_given_to_me) is None
    assert seen_by(RECEIVER, *tie) is not None
    assert consent_covers([Consent(None, True, at(1))], "anyone")


def test_the_enroller_sees_its_own_intake_without_consent() -> None:
    assert seen_by("awo-en", enrolled_by_partner=True, receives_referral=False) is None


def test_a_partner_neither_enrolling_nor_receiving_never_sees_them() -> None:
    withheld = seen_by("bobeq", Consent(None, True, at(1)), receives_referral=False)
    assert withheld == "bobeq neither enrolled the participant nor receives a referral of them"


def test_nobody_sees_them_after_an_erasure_request_or_a_destroyed_key() -> None:
    erased = seen_by("awo-en", enrolled_by_partner=True, erasure_requested_at=at(3))
    gone = seen_by(RECEIVER, Consent(None, True, at(1)), key_destroyed_at=at(4))
    assert erased == "erasure requested: processing restricted"
    assert gone == "data key destroyed: the contact details can no longer be read"


def test_allowed_but_none_recorded_says_so() -> None:
    assert (
        seen_by("awo-en", enrolled_by_partner=True, contact=None) == "no contact details recorded"
    )
    access = decide(RECEIVER, Standing(PID, receives_referral=True, contact=SEALED,
                                       consents=(Consent(None, True, at(1)),)))  # fmt: skip
    assert access == Access(PID, SEALED, None)
