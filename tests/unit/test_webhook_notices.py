"""Which notice each webhook receives, what it carries, and how its delivery is paced."""

from __future__ import annotations

import datetime as dt
import json

from standardwebhooks.webhooks import Webhook

from refnet.events.settings import Settings
from refnet.services.webhooks.delivery import backoff, signed_headers
from refnet.services.webhooks.endpoints import new_secret
from refnet.services.webhooks.notices import Applied, for_dead_letter, for_event
from tests.unit.history import PID
from tests.unit.outcome_events import accepted, enrol, sent

AT = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_a_referral_the_projection_holds_is_received_by_its_receiver_alone() -> None:
    event = sent(by="awo-en", to="bobeq")
    (notice,) = for_event(event, Applied(referral_from="awo-en", referral_to="bobeq"))

    assert (notice.partner_id, notice.type) == ("bobeq", "referral.received")
    assert notice.payload["data"] == {
        "event_id": str(event.event_id), "event_type": "referral.sent",
        "referral_id": "r1", "from_partner": "awo-en",
    }  # fmt: skip
    assert PID not in json.dumps(notice.payload)
    # Not in the read model as sent (parked, or another partner's): no notice.
    assert for_event(event, Applied()) == []
    assert for_event(event, Applied(referral_from="jobcenter-en", referral_to="bobeq")) == []


def test_an_answer_goes_to_the_sender_and_a_rejection_to_the_emitter() -> None:
    answer = accepted(by="bobeq")
    (notice,) = for_event(answer, Applied(referral_from="awo-en", referral_state="accepted"))
    assert (notice.partner_id, notice.type) == ("awo-en", "referral.answered")
    assert notice.payload["data"]["answer"] == "accepted"
    assert for_event(answer, Applied(referral_from="awo-en", referral_state="pending")) == []

    (refused,) = for_event(answer, Applied(rejected=True, referral_from="awo-en"))
    assert (refused.partner_id, refused.type) == ("bobeq", "event.rejected")
    assert refused.payload["data"]["by"] == "rules"
    assert for_event(enrol(), Applied()) == []


def test_webhook_ids_are_the_same_whenever_the_log_is_read_again() -> None:
    event = sent()
    first = for_event(event, Applied(referral_from="awo-en", referral_to="bobeq"))
    again = for_event(event, Applied(referral_from="awo-en", referral_to="bobeq"))
    assert first[0].webhook_id == again[0].webhook_id
    assert first[0].webhook_id.startswith("msg_")


def test_a_dead_letter_tells_the_partner_it_names_and_the_kind_of_reason() -> None:
    value = json.dumps({"event_id": "e1", "type": "participant.enrolled", "partner_id": "bobeq",
                        "participant_id": PID}).encode()  # fmt: skip
    headers = {"refnet-reason": b"unsigned: no signature", "refnet-source": b"log/3/17"}
    (notice,) = for_dead_letter(value, headers, AT)

    assert (notice.partner_id, notice.type) == ("bobeq", "event.rejected")
    assert notice.payload["data"] == {
        "event_id": "e1", "event_type": "participant.enrolled", "by": "dead-letter",
        "reason": "unsigned",
    }  # fmt: skip
    assert for_dead_letter(b"not json", headers, AT) == []
    assert for_dead_letter(b'{"type": "x"}', headers, AT) == []


def test_retries_double_up_to_the_cap() -> None:
    settings = Settings(webhook_retry_base=5, webhook_retry_cap=60)
    assert [backoff(n, settings) for n in (1, 2, 3, 4, 5, 6)] == [5, 10, 20, 40, 60, 60]


def test_the_signature_verifies_with_the_standard_webhooks_library() -> None:
    secret, body = new_secret(), '{"type": "referral.received"}'
    headers = signed_headers(secret, "msg_1", body, dt.datetime.now(dt.UTC))

    assert Webhook(secret).verify(body, headers) == {"type": "referral.received"}
    assert set(headers) >= {"webhook-id", "webhook-timestamp", "webhook-signature"}
    tampered = headers | {"webhook-id": "msg_2"}
    try:
        Webhook(secret).verify(body, tampered)
    except Exception as exc:
        assert "signature" in str(exc).lower()
    else:
        raise AssertionError("a notice with another id verified")
