"""A request refused with an HTTP status: one error for the gateway, the API and the dashboard.

    RefNetError          (refnet.events.errors)
    └── Refused          refused with a status, a stable code and the inputs at fault

`services/api/errors.py` turns it into the one JSON error shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from refnet.events.errors import RefNetError


@dataclass(frozen=True)
class EventProblem:
    """One input at fault: `index` names the event of a posted batch, None the request itself."""

    index: int | None
    field: str
    reason: str
    event_id: str | None = None


class Refused(RefNetError):
    """The request is refused as a whole; nothing of it was published or changed."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        problems: Sequence[EventProblem] = (),
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = list(problems)
        self.retry_after = retry_after
