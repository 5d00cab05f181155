"""Options shared by every test folder."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store",
        type=int,
        default=1,
        metavar="N",
        help="run each fault case N times (tests/faults)",
    )
