"""The API fuzzer in CI: schemathesis against a real ``switchboard serve``, every operation,
a token per role, positive and negative data; no 5xx, no response outside its documented
schema, no traceback in the server's log.

Bounded for ``make test-slow`` (a fixed seed, ``FUZZ_EXAMPLES`` examples per operation, role and
mode, ``FUZZ_SECONDS`` at most: about two minutes here). ``make fuzz`` runs the same test
longer with a fresh seed (``FUZZ_SEED=random``) and prints the figures.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.server.fuzzing import run_fuzz
from tests.server.serveproc import ServeProcess


@pytest.mark.slow  # a real `switchboard serve` for up to FUZZ_SECONDS
def test_fuzz_api_has_no_server_errors_and_keeps_its_schema(tmp_path: Path) -> None:
    examples = int(os.environ.get("FUZZ_EXAMPLES", "20"))
    budget = float(os.environ.get("FUZZ_SECONDS", "100"))
    seed_text = os.environ.get("FUZZ_SEED", "0")
    seed = random.randrange(2**32) if seed_text == "random" else int(seed_text)
    with ServeProcess(tmp_path / "data") as server:
        report = run_fuzz(server.url, examples=examples, budget_seconds=budget, seed=seed)
    report.log_tracebacks = server.log_text.count("Traceback")
    print(f"\nseed {seed}\n{report.summary()}")
    assert report.requests > 0
    assert report.server_errors == 0, report.summary()
    assert report.schema_violations == 0, report.summary()
    assert report.counts["error"] == 0, report.summary()
    assert report.log_tracebacks == 0, server.log_text[-4000:]


def test_extra_success_statuses_are_documented_as_successes(tmp_path: Path) -> None:
    """Found by ``make fuzz``: ``POST /tasks/claim``'s 204 was documented with the JSON
    error body, so every empty 204 broke the schema."""
    from switchboard.engine.engine import Engine
    from switchboard.server.api import build_api_app
    from switchboard.server.app_keys import ROUTES_KEY
    from switchboard.server.openapi import build_openapi
    from tests.server.conftest import make_config

    config = make_config(storage={"data_dir": str(tmp_path)})
    doc = build_openapi(build_api_app(Engine(config))[ROUTES_KEY])
    claim = doc["paths"]["/api/v1/tasks/claim"]["post"]["responses"]["204"]
    assert "content" not in claim
    replay = doc["paths"]["/api/v1/tasks"]["post"]["responses"]["200"]
    assert replay["content"]["application/json"]["schema"]["$ref"].endswith("/TaskEnvelope")
