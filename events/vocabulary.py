"""Closed lists of the catalogue (PRODUCT.md), one enum per list.

Values are stable identifiers written to the log: never rename one, add a new
schema version instead.
"""

from __future__ import annotations

from enum import StrEnum


class ResidenceStatus(StrEnum):
    AUFENTHALTSGESTATTUNG = "aufenthaltsgestattung"
    DULDUNG = "duldung"
    AUFENTHALTSERLAUBNIS = "aufenthaltserlaubnis"
    NIEDERLASSUNGSERLAUBNIS = "niederlassungserlaubnis"
    OTHER = "other"


class WorkPermission(StrEnum):
    EMPLOYMENT_PERMITTED = "employment_permitted"
    EMPLOYMENT_WITH_AUTHORITY_PERMISSION = "employment_with_authority_permission"
    GAINFUL_ACTIVITY_PERMITTED = "gainful_activity_permitted"
    NOT_PERMITTED = "not_permitted"


class EmploymentStatus(StrEnum):
    UNEMPLOYED = "unemployed"
    LONG_TERM_UNEMPLOYED = "long_term_unemployed"
    INACTIVE = "inactive"
    EMPLOYED = "employed"


class EducationLevel(StrEnum):
    ISCED_0_2 = "isced_0_2"
    ISCED_3_4 = "isced_3_4"
    ISCED_5_8 = "isced_5_8"


class AgeBand(StrEnum):
    UNDER_18 = "under_18"
    AGE_18_29 = "18_29"
    AGE_30_54 = "30_54"
    AGE_55_PLUS = "55_plus"


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"
    DIVERSE = "diverse"
    NOT_STATED = "not_stated"


class GermanLevel(StrEnum):
    NONE = "none"
    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"
    C1 = "C1"
    C2 = "C2"


class Service(StrEnum):
    COUNSELLING = "counselling"
    LANGUAGE_COURSE = "language_course"
    QUALIFICATION = "qualification"
    APPRENTICESHIP_PLACEMENT = "apprenticeship_placement"
    JOB_PLACEMENT = "job_placement"
    RECOGNITION_OF_QUALIFICATIONS = "recognition_of_qualifications"
    OTHER = "other"


class TrainingKind(StrEnum):
    LANGUAGE_COURSE = "language_course"
    VOCATIONAL_QUALIFICATION = "vocational_qualification"
    APPRENTICESHIP_PREPARATION = "apprenticeship_preparation"
    INTERNSHIP = "internship"
    OTHER = "other"


class PlacementKind(StrEnum):
    APPRENTICESHIP = "apprenticeship"
    EMPLOYMENT = "employment"


class Situation(StrEnum):
    """Situation on leaving, and six months after (ESF+ result indicators)."""

    JOB_SEARCHING = "job_searching"
    IN_EDUCATION_OR_TRAINING = "in_education_or_training"
    GAINED_QUALIFICATION = "gained_qualification"
    IN_EMPLOYMENT = "in_employment"
    OTHER = "other"


class ExitReason(StrEnum):
    PLACED = "placed"
    COMPLETED_PROGRAMME = "completed_programme"
    MOVED_AWAY = "moved_away"
    NO_LONGER_REACHABLE = "no_longer_reachable"
    OWN_DECISION = "own_decision"
    OTHER = "other"


class DeclineReason(StrEnum):
    NO_CAPACITY = "no_capacity"
    NOT_ELIGIBLE = "not_eligible"
    SERVICE_NOT_OFFERED = "service_not_offered"
    PARTICIPANT_DECLINED = "participant_declined"
    OTHER = "other"


class ConsentPurpose(StrEnum):
    """What a participant consents to (PRODUCT.md, "Privacy"), each given or withdrawn."""

    SHARE_CASE_DATA = "share_case_data"  # case data seen by the partners serving them
    PASS_CONTACT_DETAILS = "pass_contact_details"  # contact details to a referral's recipient
    FOLLOW_UP_CONTACT = "follow_up_contact"  # being contacted for the six-month follow-up


class KeyDestroyedReason(StrEnum):
    ERASURE = "erasure"  # erasure was requested and no retention duty runs
    RETENTION_ENDED = "retention_ended"  # the audit-retention duty after a request ended
