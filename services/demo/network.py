"""The demo network and the shares its history is drawn from: partners, sites, services, weights.

Facts of the first network (413 participants, 148 placed) and the distributions that
make a plausible two-year history; nothing here draws a number.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping

from refnet.events.catalogue import (
    EventModel,
    ParticipantExited,
    ParticipantFollowedUp,
    ResidenceStatusChanged,
    TrainingCompleted,
    TrainingDiscontinued,
)
from refnet.events.vocabulary import (
    AgeBand,
    DeclineReason,
    EducationLevel,
    EmploymentStatus,
    ExitReason,
    Gender,
    GermanLevel,
    PlacementKind,
    ResidenceStatus,
    Service,
    TrainingKind,
    WorkPermission,
)

DEMO_SEED = 2024
DEMO_PARTNERS: tuple[str, ...] = (
    "awo-en",
    "jobcenter-en",
    "caritas-witten",
    "diakonie-mark-ruhr",
    "hwk-dortmund-aba",
    "bobeq",
    "partner-bochum",
)
DEMO_SITES: tuple[str, ...] = ("schwelm", "gevelsberg", "hattingen", "witten", "bochum")
DEMO_PARTICIPANTS = 413
DEMO_PLACED = 148
HISTORY_START = dt.date(2023, 1, 9)
HISTORY_END = dt.date(2024, 12, 20)
PROGRAMME = "ESF Plus: Netzwerk Ennepe-Ruhr und Bochum"
NAMESPACE = uuid.UUID("6f1c3a52-8d2e-5b7a-9c41-2e0d7b5a9f13")
"""uuid5 namespace of the demo's event ids: `uuid5(NAMESPACE, f"{seed}:{n}")`."""

PARTNER_SITES: Mapping[str, tuple[str, ...]] = {
    "awo-en": ("schwelm", "gevelsberg", "hattingen", "witten"),
    "jobcenter-en": ("schwelm", "gevelsberg", "hattingen", "witten"),
    "caritas-witten": ("witten", "hattingen"),
    "diakonie-mark-ruhr": ("gevelsberg", "schwelm", "witten"),
    "hwk-dortmund-aba": ("witten", "hattingen"),
    "bobeq": ("bochum", "hattingen"),
    "partner-bochum": ("bochum",),
}
"""Where each partner works; it records cases from other sites under its first one."""

PARTNER_SERVICES: Mapping[str, tuple[Service, ...]] = {
    "awo-en": (Service.COUNSELLING, Service.RECOGNITION_OF_QUALIFICATIONS, Service.OTHER),
    "jobcenter-en": (
        Service.JOB_PLACEMENT,
        Service.APPRENTICESHIP_PLACEMENT,
        Service.QUALIFICATION,
    ),
    "caritas-witten": (Service.COUNSELLING, Service.LANGUAGE_COURSE),
    "diakonie-mark-ruhr": (Service.COUNSELLING, Service.OTHER),
    "hwk-dortmund-aba": (Service.QUALIFICATION, Service.APPRENTICESHIP_PLACEMENT),
    "bobeq": (Service.QUALIFICATION, Service.JOB_PLACEMENT),
    "partner-bochum": (
        Service.COUNSELLING,
        Service.LANGUAGE_COURSE,
        Service.RECOGNITION_OF_QUALIFICATIONS,
    ),
}
"""The services each partner accepts referrals for."""

_SPAN = (HISTORY_END - HISTORY_START).days
_MISTYPED_PSEUDONYMS = 3
_TWO_PARTNER_ENROLMENTS = 14
_DUPLICATE_ENROLMENTS = 2
_MISTAKEN_DECLINES = 3
_DOUBLE_REPORTED = 6
_WRONG_KIND = 2
_WRONG_PLACEMENTS = 3
_DUPLICATE_PUBLISHES = 12
_LATE_SHARE = 0.12

_SITE_WEIGHTS: Mapping[str, float] = {
    "schwelm": 18,
    "gevelsberg": 16,
    "hattingen": 16,
    "witten": 26,
    "bochum": 24,
}
_INTAKE_WEIGHTS: Mapping[str, float] = {
    "awo-en": 3,
    "jobcenter-en": 2,
    "caritas-witten": 2,
    "diakonie-mark-ruhr": 2,
    "bobeq": 1,
    "partner-bochum": 5,
}
_OWN_TRAINING: Mapping[str, TrainingKind] = {
    "caritas-witten": TrainingKind.LANGUAGE_COURSE,
    "partner-bochum": TrainingKind.LANGUAGE_COURSE,
    "bobeq": TrainingKind.VOCATIONAL_QUALIFICATION,
}
_SERVICE_WEIGHTS: Mapping[Service, float] = {
    Service.LANGUAGE_COURSE: 22,
    Service.QUALIFICATION: 20,
    Service.JOB_PLACEMENT: 17,
    Service.APPRENTICESHIP_PLACEMENT: 14,
    Service.COUNSELLING: 13,
    Service.RECOGNITION_OF_QUALIFICATIONS: 8,
    Service.OTHER: 6,
}
_REFERRAL_COUNTS: Mapping[int, float] = {0: 15, 1: 35, 2: 32, 3: 18}
_ANSWERS: Mapping[str, float] = {"accepted": 83, "declined": 13, "never": 4}
_DECLINE_REASONS: Mapping[DeclineReason, float] = {
    DeclineReason.NO_CAPACITY: 40,
    DeclineReason.NOT_ELIGIBLE: 25,
    DeclineReason.PARTICIPANT_DECLINED: 20,
    DeclineReason.SERVICE_NOT_OFFERED: 8,
    DeclineReason.OTHER: 7,
}
_TRAININGS: Mapping[Service, Mapping[TrainingKind | None, float]] = {
    Service.LANGUAGE_COURSE: {TrainingKind.LANGUAGE_COURSE: 90, None: 10},
    Service.QUALIFICATION: {
        TrainingKind.VOCATIONAL_QUALIFICATION: 65,
        TrainingKind.INTERNSHIP: 20,
        None: 15,
    },
    Service.APPRENTICESHIP_PLACEMENT: {
        TrainingKind.APPRENTICESHIP_PREPARATION: 35,
        TrainingKind.INTERNSHIP: 15,
        None: 50,
    },
    Service.JOB_PLACEMENT: {TrainingKind.INTERNSHIP: 10, None: 90},
    Service.RECOGNITION_OF_QUALIFICATIONS: {TrainingKind.OTHER: 20, None: 80},
}
# Days a training runs, and the chance it ends with a qualification.
_DURATIONS: Mapping[TrainingKind, tuple[int, int]] = {
    TrainingKind.LANGUAGE_COURSE: (60, 200),
    TrainingKind.VOCATIONAL_QUALIFICATION: (90, 260),
    TrainingKind.APPRENTICESHIP_PREPARATION: (60, 180),
    TrainingKind.INTERNSHIP: (14, 60),
    TrainingKind.OTHER: (30, 120),
}
_QUALIFYING: Mapping[TrainingKind, float] = {
    TrainingKind.LANGUAGE_COURSE: 0.65,
    TrainingKind.VOCATIONAL_QUALIFICATION: 0.7,
    TrainingKind.APPRENTICESHIP_PREPARATION: 0.3,
    TrainingKind.INTERNSHIP: 0.1,
    TrainingKind.OTHER: 0.3,
}
_PLACEMENT_SERVICES: Mapping[Service, PlacementKind] = {
    Service.APPRENTICESHIP_PLACEMENT: PlacementKind.APPRENTICESHIP,
    Service.JOB_PLACEMENT: PlacementKind.EMPLOYMENT,
}
_STATUSES: Mapping[ResidenceStatus, float] = {
    ResidenceStatus.AUFENTHALTSERLAUBNIS: 48,
    ResidenceStatus.AUFENTHALTSGESTATTUNG: 20,
    ResidenceStatus.DULDUNG: 20,
    ResidenceStatus.NIEDERLASSUNGSERLAUBNIS: 7,
    ResidenceStatus.OTHER: 5,
}
_PERMISSIONS: Mapping[ResidenceStatus, tuple[WorkPermission, ...]] = {
    ResidenceStatus.AUFENTHALTSERLAUBNIS: (
        WorkPermission.GAINFUL_ACTIVITY_PERMITTED,
        WorkPermission.EMPLOYMENT_PERMITTED,
    ),
    ResidenceStatus.AUFENTHALTSGESTATTUNG: (
        WorkPermission.EMPLOYMENT_WITH_AUTHORITY_PERMISSION,
        WorkPermission.NOT_PERMITTED,
    ),
    ResidenceStatus.DULDUNG: (
        WorkPermission.EMPLOYMENT_WITH_AUTHORITY_PERMISSION,
        WorkPermission.NOT_PERMITTED,
    ),
    ResidenceStatus.NIEDERLASSUNGSERLAUBNIS: (WorkPermission.GAINFUL_ACTIVITY_PERMITTED,),
    ResidenceStatus.OTHER: (WorkPermission.EMPLOYMENT_WITH_AUTHORITY_PERMISSION,),
}
_RESIDENCE_CHANGES: Mapping[ResidenceStatus, Mapping[ResidenceStatus, float]] = {
    ResidenceStatus.DULDUNG: {ResidenceStatus.AUFENTHALTSERLAUBNIS: 1},
    ResidenceStatus.AUFENTHALTSGESTATTUNG: {
        ResidenceStatus.AUFENTHALTSERLAUBNIS: 65,
        ResidenceStatus.DULDUNG: 35,
    },
    ResidenceStatus.AUFENTHALTSERLAUBNIS: {ResidenceStatus.NIEDERLASSUNGSERLAUBNIS: 1},
}
_EXIT_REASONS: Mapping[ExitReason, float] = {
    ExitReason.COMPLETED_PROGRAMME: 40,
    ExitReason.MOVED_AWAY: 20,
    ExitReason.NO_LONGER_REACHABLE: 18,
    ExitReason.OWN_DECISION: 15,
    ExitReason.OTHER: 7,
}
_EMPLOYMENT: Mapping[EmploymentStatus, float] = {
    EmploymentStatus.UNEMPLOYED: 45,
    EmploymentStatus.LONG_TERM_UNEMPLOYED: 25,
    EmploymentStatus.INACTIVE: 25,
    EmploymentStatus.EMPLOYED: 5,
}
_EDUCATION: Mapping[EducationLevel, float] = {
    EducationLevel.ISCED_0_2: 50,
    EducationLevel.ISCED_3_4: 34,
    EducationLevel.ISCED_5_8: 16,
}
_AGES: Mapping[AgeBand, float] = {
    AgeBand.UNDER_18: 7,
    AgeBand.AGE_18_29: 55,
    AgeBand.AGE_30_54: 35,
    AgeBand.AGE_55_PLUS: 3,
}
_GENDERS: Mapping[Gender, float] = {
    Gender.MALE: 62,
    Gender.FEMALE: 36,
    Gender.DIVERSE: 1,
    Gender.NOT_STATED: 1,
}
_GERMAN: Mapping[GermanLevel, float] = {
    GermanLevel.NONE: 8,
    GermanLevel.A1: 22,
    GermanLevel.A2: 28,
    GermanLevel.B1: 27,
    GermanLevel.B2: 11,
    GermanLevel.C1: 4,
}
_SGB2_STATUSES = (ResidenceStatus.AUFENTHALTSERLAUBNIS, ResidenceStatus.NIEDERLASSUNGSERLAUBNIS)
_REFUSABLE = ("residence_status", "gender", "third_country_national", "education_level")
# Events a partner's system often records days late; never ones that get retracted.
_LATE_OK: tuple[Callable[..., EventModel], ...] = (
    TrainingCompleted,
    TrainingDiscontinued,
    ParticipantExited,
    ParticipantFollowedUp,
    ResidenceStatusChanged,
)
