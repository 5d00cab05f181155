"""Schemathesis against the served API: no 5xx, and every error names its fields."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from schemathesis import GenerationMode

from tests.integration.hostile.support import (
    CHECKS,
    EXAMPLES,
    EXAMPLES_WITHOUT_TOKEN,
    AnyCase,
    Server,
    Tally,
    fuzz,
    served_operations,
    token_for,
    unauthenticated,
    without_auth,
)
from tests.integration.world import show_in_terminal

pytestmark = pytest.mark.integration

# The run writes its figures to `schemathesis-summary.json` under pytest's tmp dir
# and prints one line:
#
#     .venv/bin/pytest -q tests/integration/hostile/test_schemathesis.py


@pytest.fixture
def schema(server: Server) -> schemathesis.BaseSchema:
    """The served schema, loaded afresh for each test: schemathesis learns from the answers
    it gets, and one operation's run must not steer another's."""
    return schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")


@pytest.fixture(scope="module")
def tally(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tally]:
    """Every schemathesis example of the module; its figures are printed and kept at the end."""
    shared = Tally()
    yield shared
    if not shared.examples:
        return
    path = tmp_path_factory.mktemp("schemathesis") / "schemathesis-summary.json"
    summary = shared.summary(len({operation for operation, _ in shared.examples}))
    path.write_text(json.dumps(summary, indent=2))
    passes = ", ".join(f"{label} {n}" for label, n in sorted(summary["examples_by_pass"].items()))
    failing = sorted({f["operation"] for f in shared.failures})
    line = (
        f"schemathesis {schemathesis.__version__}: {summary['operations']} operations, "
        f"{summary['examples']} examples ({passes}), {summary['failures']} failures"
        + (f" (in {', '.join(failing)})" if failing else "")
        + f"; figures in {path}"
    )
    show_in_terminal(request, [line])


def test_the_schema_served_is_the_one_the_tests_cover(schema: schemathesis.BaseSchema) -> None:
    served = sorted(result.ok().label for result in schema.get_all_operations())  # type: ignore[union-attr]

    assert served == served_operations()
    assert len(served) >= 8


@pytest.mark.parametrize("label", served_operations())
def test_schemathesis_finds_no_5xx_and_every_error_names_its_fields(
    server: Server, schema: schemathesis.BaseSchema, tally: Tally, label: str
) -> None:
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    session = requests.Session()
    headers = server.auth(token_for(operation))

    def with_token(case: AnyCase, mode: str) -> None:
        tally.run(case, mode, headers, CHECKS, session)

    def without_token(case: AnyCase) -> None:
        checks = [*CHECKS, unauthenticated]
        tally.run(without_auth(case), "without a token", {}, checks, session)

    # The cases schemathesis derives from the schema's boundaries: limits, wrong types,
    # missing parameters, unexpected methods and content types, no Authorization.
    config = schema.config.generation_for(operation=operation)
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    for case in schema.iter_coverage_cases(
        operation, generation_modes=modes, generation_config=config
    ):
        with_token(case, "coverage")
    for mode in modes:

        def in_mode(case: AnyCase, mode: str = mode.value) -> None:
            with_token(case, mode)

        fuzz(operation, mode, EXAMPLES, in_mode)
    fuzz(operation, GenerationMode.POSITIVE, EXAMPLES_WITHOUT_TOKEN, without_token)

    ran = {name for (op, name) in tally.examples if op == label}
    assert {"coverage", "positive", "without a token"} <= ran
    assert any(name.startswith("negative") for name in ran)
    failures = [f for f in tally.failures if f["operation"] == label]
    unique = {(f["status"], f["title"]): f for f in failures}
    report = "\n\n".join(
        f"{label} -> {status}: {title}\n  {f['curl']}\n{f['detail']}"
        for (status, title), f in list(unique.items())[:10]
    )
    assert not failures, f"{len(failures)} failures, {len(unique)} distinct:\n{report}"
