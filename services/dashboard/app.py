"""The dashboard's routes, mounted at `/` beside the JSON API under `/v1`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
