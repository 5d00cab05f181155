"""The funder's report: the ESF+ common indicators for a period (coordinator and auditor).

The figures come from the read model's participant rows through `esf_report`,
the one counting the audit replay uses too; the report is stamped with the
instant it was made and the log offsets it was counted at, so that
`refnet audit replay --as-of <as_of> --esf` reproduces it from the log alone.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from refnet.projections.reports.esf import EsfReport, network_esf
from refnet.projections.store.views import Period
from refnet.services.api.deps import AppSettings, Conn, CoordinatorOrAuditor
from refnet.services.api.errors import ERROR_RESPONSES
from refnet.services.api.routes.network import period

router = APIRouter(prefix="/v1/network", tags=["reports"], responses=ERROR_RESPONSES)


@router.get("/esf")
async def read_esf(
    _: CoordinatorOrAuditor,
    conn: Conn,
    settings: AppSettings,
    period: Annotated[Period, Depends(period)],
) -> EsfReport:
    """The ESF+ report: output indicators by first enrolment in the period, results on
    leaving and six months after by leaving date in the period; every box split by gender.
    """
    return await network_esf(conn, period, settings.topic_events)
