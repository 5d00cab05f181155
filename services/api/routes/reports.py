"""The funder's report: the ESF+ common indicators for a period (coordinator and auditor)."""

from __future__ import annotations

from fastapi import APIRouter

from refnet.services.api.errors import ERROR_RESPONSES

router = APIRouter(prefix="/v1/network", tags=["reports"], responses=ERROR_RESPONSES)
