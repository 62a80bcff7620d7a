"""schemathesis against the app's own OpenAPI schema (served live): no 5xx, and every response conforms to
the schema (status codes, content types, bodies). Requests carry the admin key; bounded to a few seconds."""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

EXAMPLES_PER_MODE = 10  # x 2 modes = 20 per operation
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str], calls: list[int]) -> None:
    checks = CHECKS  # not negative_data_rejection: unknown query parameters are ignored, as HTTP APIs do

    @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        calls.append(1)
        case.call_and_validate(headers=headers, checks=checks, timeout=10)

    try:
        call()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to break in, e.g., GET /healthz


def test_generated_requests_never_get_a_5xx_and_every_response_matches_the_schema(deployment):
    schema = schemathesis.openapi.from_url(f"{deployment.url}/openapi.json")
    headers = {"Authorization": f"Bearer {deployment.admin_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    started, calls = time.monotonic(), []
    for operation in operations:
        t0 = time.monotonic()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, headers, calls)
        print(f"{operation.label}: {time.monotonic() - t0:.1f}s")
    elapsed = time.monotonic() - started
    print(f"schemathesis: {len(calls)} requests over {len(operations)} operations in {elapsed:.1f}s")
    assert elapsed < 60
