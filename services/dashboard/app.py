"""The dashboard's routes, mounted at `/` beside the JSON API under `/v1`.

Its own assets are served by `access.asset` at `/static/...`, so the app needs
no mount and nothing is fetched from elsewhere.
"""

from __future__ import annotations

from fastapi import APIRouter

from refnet.services.dashboard import access, answers, auditor, coordinator, esf, partner

router = APIRouter(include_in_schema=False)
for _module in (access, coordinator, esf, answers, partner, auditor):
    router.include_router(_module.router)
