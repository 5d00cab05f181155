"""PRODUCT.md "How outcomes are counted": enrolments, residence status and placements."""

from __future__ import annotations

from refnet.projections.fold.derive import derive
from refnet.projections.fold.rows import PartnerLinkRow
from tests.unit.history import at_offsets, day, ev, fold, retract, stamp
from tests.unit.outcome_events import enrol, links, stored

# ---------------------------------------------------------------- enrolment


def test_an_enrolment_makes_a_participant_with_its_indicators() -> None:
    enrolled = ev(
        "participant.enrolled",
        "caritas-witten",
        day(1),
        site="witten",
        gender="diverse",
        age_band="30_54",
        education_level="isced_3_4",
        employment_status="long_term_unemployed",
        third_country_national=False,
        residence_status="aufenthaltsgestattung",
    )

    row = fold(enrolled).participant

    assert row.enrolled is True
    assert row.first_enrolled_at == stamp(day(1))
    assert (row.site, row.first_partner) == ("witten", "caritas-witten")
    assert (row.gender, row.age_band) == ("diverse", "30_54")
    assert (row.education_level, row.employment_status) == ("isced_3_4", "long_term_unemployed")
    assert row.third_country_national == "false"
    assert row.residence_status == "aufenthaltsgestattung"


def test_a_refused_answer_is_kept_as_refused() -> None:
    row = fold(ev("participant.enrolled", gender="refused", third_country_national="refused"))

    assert row.participant.gender == "refused"
    assert row.participant.third_country_national == "refused"


def test_the_first_enrolment_is_the_earliest_occurred_at_not_the_first_logged() -> None:
    later = ev("participant.enrolled", "awo-en", day(5), site="schwelm", gender="male")
    earlier = ev("participant.enrolled", "bobeq", day(2), site="bochum", gender="female")

    row = fold(later, earlier).participant

    assert row.first_enrolled_at == stamp(day(2))
    assert (row.site, row.first_partner, row.gender) == ("bochum", "bobeq", "female")


def test_enrolments_at_the_same_instant_are_ordered_by_log_offset() -> None:
    logged_first = ev("participant.enrolled", "awo-en", day(2), site="schwelm", age_band="18_29")
    logged_second = ev("participant.enrolled", "bobeq", day(2), site="bochum", age_band="55_plus")
    facts = at_offsets(logged_first, logged_second)

    row = derive(stored(facts[::-1])).participant  # held in the other order

    assert (row.site, row.first_partner, row.age_band) == ("schwelm", "awo-en", "18_29")


def test_a_person_enrolled_by_two_partners_is_one_participant_with_two_enrolled_links() -> None:
    by_awo = ev("participant.enrolled", "awo-en", day(1))
    by_caritas = ev("participant.enrolled", "caritas-witten", day(3))

    rows = fold(by_awo, by_caritas)

    assert rows.participant.first_partner == "awo-en"
    assert rows.links == [
        PartnerLinkRow("awo-en", rows.participant.participant_id, "enrolled", stamp(day(1))),
        PartnerLinkRow(
            "caritas-witten", rows.participant.participant_id, "enrolled", stamp(day(3))
        ),
    ]


def test_a_partner_enrolling_twice_has_one_link_since_its_first_enrolment() -> None:
    rows = fold(
        ev("participant.enrolled", "awo-en", day(9)),
        ev("participant.enrolled", "awo-en", day(4)),
    )

    assert [(link.role, link.since) for link in rows.links] == [("enrolled", stamp(day(4)))]


def test_retracting_the_first_enrolment_makes_the_second_the_first() -> None:
    first = ev("participant.enrolled", "awo-en", day(1), site="schwelm", gender="male")
    second = ev("participant.enrolled", "bobeq", day(3), site="bochum", gender="female")

    rows = fold(first, second, retract(first, at=day(4)))

    row = rows.participant
    assert row.enrolled is True
    assert (row.first_enrolled_at, row.site, row.first_partner, row.gender) == (
        stamp(day(3)),
        "bochum",
        "bobeq",
        "female",
    )
    assert links(rows.links) == {("bobeq", "enrolled")}


def test_retracting_the_only_enrolment_leaves_no_participant() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))

    row = fold(enrolled, retract(enrolled, at=day(2))).participant

    assert row.enrolled is False
    assert (row.first_enrolled_at, row.site, row.first_partner, row.gender) == (None,) * 4


def test_an_enrolment_retracted_by_another_partner_still_counts() -> None:
    enrolled = ev("participant.enrolled", "awo-en", day(1))

    row = fold(enrolled, retract(enrolled, partner="caritas-witten", at=day(2))).participant

    assert row.enrolled is True


# ---------------------------------------------------------- residence status


def test_the_residence_status_is_the_enrolment_value_without_a_change() -> None:
    row = fold(ev("participant.enrolled", residence_status="duldung")).participant

    assert row.residence_status == "duldung"


def test_the_latest_residence_status_change_wins_over_the_enrolment_value() -> None:
    rows = fold(
        ev("participant.enrolled", "awo-en", day(1), residence_status="duldung"),
        ev(
            "residence_status.changed",
            "jobcenter-en",
            day(40),
            residence_status="niederlassungserlaubnis",
        ),
        ev("residence_status.changed", "awo-en", day(20), residence_status="aufenthaltserlaubnis"),
    )

    assert rows.participant.residence_status == "niederlassungserlaubnis"


def test_a_retracted_residence_status_change_falls_back_to_the_one_before() -> None:
    earlier = ev("residence_status.changed", "awo-en", day(10), residence_status="duldung")
    later = ev(
        "residence_status.changed", "awo-en", day(20), residence_status="aufenthaltserlaubnis"
    )

    rows = fold(
        ev("participant.enrolled", "awo-en", day(1), residence_status="aufenthaltsgestattung"),
        earlier,
        later,
        retract(later, at=day(21)),
    )

    assert rows.participant.residence_status == "duldung"


# ---------------------------------------------------------------- placement


def test_a_placement_marks_the_participant_placed() -> None:
    rows = fold(
        ev("participant.enrolled", "awo-en", day(1)),
        ev("participant.placed", "bobeq", day(30), kind="employment"),
    )

    row = rows.participant
    assert (row.placed_at, row.placement_kind, row.placement_partner) == (
        stamp(day(30)),
        "employment",
        "bobeq",
    )
    assert ("bobeq", "placed") in links(rows.links)


def test_the_first_placement_by_occurred_at_decides_the_kind() -> None:
    row = fold(
        enrol(),
        ev("participant.placed", "awo-en", day(40), kind="employment"),
        ev("participant.placed", "bobeq", day(30), kind="apprenticeship"),
    ).participant

    assert (row.placed_at, row.placement_kind, row.placement_partner) == (
        stamp(day(30)),
        "apprenticeship",
        "bobeq",
    )


def test_placements_at_the_same_instant_are_ordered_by_log_offset() -> None:
    facts = at_offsets(
        enrol(),
        ev("participant.placed", "awo-en", day(30), kind="employment"),
        ev("participant.placed", "bobeq", day(30), kind="apprenticeship"),
    )

    row = derive(stored(facts[::-1])).participant  # held in the other order

    assert (row.placement_kind, row.placement_partner) == ("employment", "awo-en")


def test_a_placement_reported_by_two_partners_is_placed_once_with_two_placed_links() -> None:
    rows = fold(
        enrol(),
        ev("participant.placed", "awo-en", day(30), kind="employment"),
        ev("participant.placed", "bobeq", day(31), kind="employment"),
    )

    assert rows.participant.placed_at == stamp(day(30))
    assert [(link.partner_id, link.role, link.since) for link in rows.links] == [
        ("awo-en", "enrolled", stamp(day(1))),
        ("awo-en", "placed", stamp(day(30))),
        ("bobeq", "placed", stamp(day(31))),
    ]


def test_a_retracted_placement_is_not_a_placement() -> None:
    placed = ev("participant.placed", "bobeq", day(30))

    rows = fold(ev("participant.enrolled", "awo-en", day(1)), placed, retract(placed, at=day(31)))

    row = rows.participant
    assert (row.placed_at, row.placement_kind, row.placement_partner) == (None, None, None)
    assert links(rows.links) == {("awo-en", "enrolled")}


def test_retracting_the_first_placement_lets_the_second_decide() -> None:
    first = ev("participant.placed", "awo-en", day(30), kind="employment")
    second = ev("participant.placed", "bobeq", day(35), kind="apprenticeship")

    row = fold(enrol(), first, second, retract(first, at=day(36))).participant

    assert (row.placed_at, row.placement_kind, row.placement_partner) == (
        stamp(day(35)),
        "apprenticeship",
        "bobeq",
    )


def test_a_stored_placement_without_an_enrolment_is_kept_but_not_enrolled() -> None:
    row = derive(stored(at_offsets(ev("participant.placed", "bobeq", day(30))))).participant

    assert row.enrolled is False
    assert row.placed_at == stamp(day(30))
