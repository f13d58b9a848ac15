"""The API fuzzer: schemathesis against a real ``switchboard serve`` and its own OpenAPI document.

Why a driver of our own around schemathesis' Python API (not ``@schema.parametrize``): one
pytest test must cover every operation for every role inside a time budget, count what it
sent, and report every failure at the end rather than stop at the first. Each operation is
driven by Hypothesis with schemathesis' strategies, positive (valid per the schema) and
negative (invalid) data, with a token per role; every response is checked for

- a 5xx (``not_a_server_error``), and
- a body that breaks the operation's documented response schema
  (``response_schema_conformance``).

The server runs as a subprocess (``switchboard serve`` on a free port, the same start-up path
operators use), so its log can be scanned for tracebacks afterwards. Used by
``tests/server/test_fuzz.py`` (bounded, in ``make test-slow``) and ``make fuzz`` (longer).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.server.serveproc import SECRET

ROLES = ("admin", "agent", "user")

# Streams and the WebSocket never end by themselves: a fuzzer request would hang until
# its timeout. They are covered by their own tests (test_sse, test_ws, test_events_api).
SKIPPED_MEDIA = ("text/event-stream",)
SKIPPED_PATHS = ("/api/v1/ws",)


@dataclass
class Finding:
    """One distinct failure: which check, where, and a curl line that reproduces it."""

    kind: str  # "5xx" | "schema" | "error"
    operation: str
    role: str
    status: int | None
    message: str
    curl: str = ""


@dataclass
class FuzzReport:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    findings: dict[tuple[str, str, str], Finding] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    operations: int = 0
    seconds: float = 0.0
    log_tracebacks: int = 0

    @property
    def server_errors(self) -> int:
        return self.counts["5xx"]

    @property
    def schema_violations(self) -> int:
        return self.counts["schema"]

    def add(self, finding: Finding) -> None:
        self.counts[finding.kind] += 1
        key = (finding.kind, finding.operation, finding.message.splitlines()[0][:120])
        self.findings.setdefault(key, finding)

    def summary(self) -> str:
        top = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        lines = [
            f"fuzz: {self.requests} requests over {self.operations} operations x {len(ROLES)} "
            f"roles in {self.seconds:.0f} s; 5xx: {self.server_errors}; schema violations: "
            f"{self.schema_violations}; other errors: {self.counts['error']}; tracebacks in "
            f"the server log: {self.log_tracebacks}",
            f"statuses: {top}",
        ]
        for finding in list(self.findings.values())[:40]:
            lines.append(f"- [{finding.kind}] {finding.operation} as {finding.role} -> "
                         f"{finding.status}: {finding.message.strip()[:400]}")
            if finding.curl:
                lines.append(f"    {finding.curl[:600]}")
        return "\n".join(lines)


def tokens() -> dict[str, str]:
    """One JWT per role, minted with the fuzz server's secret."""
    from switchboard.engine.config import load_config
    from switchboard.server.auth import Authenticator

    auth = Authenticator(load_config(env={"ORCHESTRATOR_JWT_SECRET": SECRET}).auth)
    return {role: auth.mint(f"fuzz-{role}", role) for role in ROLES}  # type: ignore[arg-type]


def _fuzzable(operation: Any) -> bool:
    if operation.path in SKIPPED_PATHS:
        return False
    for response in operation.definition.raw.get("responses", {}).values():
        content = response.get("content", {}) if isinstance(response, dict) else {}
        if any(media in content for media in SKIPPED_MEDIA):
            return False
    return True


def _tame(case: Any) -> None:
    """Keep the fuzzer from waiting on purpose: long-poll claims ask for no wait."""
    for container in (case.query, case.body):
        if isinstance(container, dict) and "wait" in container:
            container["wait"] = 0


def run_fuzz(url: str, *, examples: int, budget_seconds: float,
             roles: tuple[str, ...] = ROLES, seed: int | None = 0) -> FuzzReport:
    """Fuzz every operation of ``url``'s OpenAPI document as each role; return the report.

    ``examples`` is per operation, role and generation mode; ``budget_seconds`` stops
    starting new operations once spent (every operation gets its turn in a shuffled order,
    so a short budget still samples the whole API). ``seed`` makes a run repeatable
    (None: new data every run).
    """
    import random

    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    report = FuzzReport()
    started = time.monotonic()
    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if _fuzzable(op)]
    report.operations = len(operations)
    role_tokens = tokens()
    jobs = [(op, role, mode) for op in operations for role in roles
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    random.Random(seed).shuffle(jobs)
    session = requests.Session()
    checks = [not_a_server_error, response_schema_conformance]

    for operation, role, mode in jobs:
        if time.monotonic() - started > budget_seconds:
            break
        headers = {"Authorization": f"Bearer {role_tokens[role]}"}
        probe = _probe(report, session, url, operation, role, headers, checks)
        test = settings(
            max_examples=examples, deadline=None, database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )(given(case=operation.as_strategy(generation_mode=mode))(probe))
        if seed is not None:
            test = hypothesis_seed(seed)(test)
        try:
            test()
        except Unsatisfiable:
            pass  # nothing to generate (no negative form of an operation without inputs)
        except Exception as exc:  # other generation problems are findings
            report.add(Finding("error", operation.label, role, None,
                               f"{type(exc).__name__}: {exc}"))
    report.seconds = time.monotonic() - started
    return report


def _probe(report: FuzzReport, session: requests.Session, url: str, operation: Any, role: str,
           headers: dict[str, str], checks: list[Any]) -> Any:
    """The Hypothesis test body for one operation and role: send, check, record."""
    from schemathesis.core.failures import FailureGroup

    def probe(case: Any) -> None:
        _tame(case)
        try:
            response = case.call(base_url=url, session=session, headers=headers, timeout=30)
        except requests.RequestException as exc:
            report.add(Finding("error", operation.label, role, None, repr(exc)))
            return
        report.requests += 1
        report.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                kind = "5xx" if response.status_code >= 500 else "schema"
                report.add(Finding(kind, operation.label, role, response.status_code,
                                   f"{failure.title}: {failure.message}",
                                   case.as_curl_command(headers=headers, base_url=url)))

    return probe
