"""Rate limits: rule matching, exact limits with an injected clock, headers, memory bound."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.engine.clock import ManualClock
from switchboard.engine.config import DEFAULT_ENDPOINT_LIMITS, RateLimitConfig
from switchboard.server.ratelimit import BURST_RULE, DEFAULT_RULE, RateLimiter, RateRule
from tests.server.conftest import KEYS, AppClient, MakeClient

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def limiter(clock: ManualClock | None = None, **fields: object) -> RateLimiter:
    return RateLimiter(RateLimitConfig(**fields), clock=clock or ManualClock())


# -- rule matching -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path,rule",
    [
        ("POST", "/api/v1/tasks", "POST /tasks"),
        ("POST", "/tasks", "POST /tasks"),
        ("GET", "/api/v1/tasks/task_1", "GET /tasks/{id}"),
        ("PATCH", "/api/v1/tasks/task_1/status", "PATCH /tasks/{id}/status"),
        ("POST", "/api/v1/events/publish", "POST /events/publish"),
        ("GET", "/api/v1/approvals/pending", "GET /approvals/*"),
        ("GET", "/api/v1/approvals/history", "GET /approvals/*"),
        ("GET", "/api/v1/approvals/approval_1", "GET /approvals/*"),
        ("POST", "/api/v1/approvals/approval_1/approve", "POST /approvals/*/approve"),
        ("POST", "/api/v1/approvals/approval_1/reject", "POST /approvals/*/reject"),
        ("GET", "/stats", "GET /stats"),
        ("GET", "/api/v1/stats", "GET /stats"),
        ("GET", "/api/v1/stats/", "GET /stats"),
    ],
)
def test_seed_003_table_matches(method: str, path: str, rule: str) -> None:
    (matched,) = limiter().rules_for(method, path)
    assert matched.key == rule
    assert (matched.limit, matched.period) == (int(DEFAULT_ENDPOINT_LIMITS[rule].split("/")[0]), 60)


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/v1/tasks"),  # list: not "GET /tasks/{id}"
        ("GET", "/api/v1/tasks/t1/logs"),  # deeper than {id}
        ("DELETE", "/api/v1/tasks/t1"),  # other method
        ("GET", "/api/v1/approvals"),  # "*" needs a segment
        ("GET", "/api/v1/agents"),
        ("GET", "/health"),
    ],
)
def test_everything_else_gets_default_and_burst(method: str, path: str) -> None:
    assert [r.key for r in limiter().rules_for(method, path)] == [DEFAULT_RULE, BURST_RULE]


def test_most_specific_rule_wins_and_trailing_star_spans_segments() -> None:
    lim = limiter(endpoints={"GET /runs/*": "5/minute", "GET /runs/special": "50/minute",
                             "/anything/{x}": "7/minute"})
    assert lim.rules_for("GET", "/api/v1/runs/special")[0].key == "GET /runs/special"
    assert lim.rules_for("GET", "/api/v1/runs/r1/events/stream")[0].key == "GET /runs/*"
    assert lim.rules_for("DELETE", "/anything/1")[0].key == "/anything/{x}"


@pytest.mark.parametrize("key", ["FETCH /x", "GET x"])
def test_bad_rule_keys_fail_at_start(key: str) -> None:
    with pytest.raises(ValueError, match="rate limit key"):
        RateRule.parse(key, "1/minute")


# -- the bucket ----------------------------------------------------------------------------


def test_exactly_limit_requests_then_refused_then_refilled() -> None:
    clock = ManualClock()
    lim = limiter(clock)
    for n in range(10):
        result = lim.hit("POST", "/api/v1/tasks", "jwt:a")
        assert result.allowed and result.remaining == 9 - n and result.limit == 10
    refused = lim.hit("POST", "/api/v1/tasks", "jwt:a")
    assert not refused.allowed and refused.remaining == 0
    assert refused.retry_after == 6  # 10/minute: one token every 6 s
    assert refused.reset == math.ceil(clock.now() + 60)
    assert refused.detail == "Rate limit exceeded. Try again in 6 seconds."
    assert lim.hit("POST", "/api/v1/tasks", "jwt:b").allowed  # other principal, own bucket
    assert lim.hit("GET", "/api/v1/tasks/t1", "jwt:a").allowed  # other rule, own bucket
    clock.advance(5.9)
    assert not lim.hit("POST", "/api/v1/tasks", "jwt:a").allowed  # refused hits cost nothing
    clock.advance(0.1)
    assert lim.hit("POST", "/api/v1/tasks", "jwt:a").allowed


def test_default_and_burst_both_apply() -> None:
    clock = ManualClock()
    lim = limiter(clock, default="5/hour", burst="3/minute")
    assert [lim.hit("GET", "/agents", "ip:1").allowed for _ in range(4)] == [True] * 3 + [False]
    refused = lim.hit("GET", "/agents", "ip:1")
    assert refused.limit == 3 and refused.retry_after == 20
    clock.advance(60)
    assert [lim.hit("GET", "/agents", "ip:1").allowed for _ in range(3)] == [True, True, False]
    refused = lim.hit("GET", "/agents", "ip:1")
    assert refused.limit == 5  # now the hourly bucket is the one that says no
    assert refused.retry_after == 660  # one token per 12 min, 1 min of which has passed


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=30), min_size=1, max_size=200))
def test_never_more_than_limit_plus_refill(gaps: list[float]) -> None:
    """Property: over any schedule, allowed <= capacity + elapsed * rate."""
    clock = ManualClock()
    lim = limiter(clock, endpoints={"POST /x": "10/minute"})
    allowed = 0
    for gap in gaps:
        clock.advance(gap)
        allowed += lim.hit("POST", "/x", "me").allowed
    assert allowed <= 10 + sum(gaps) * 10 / 60 + 1e-6


def test_idle_buckets_are_evicted_and_the_count_is_bounded() -> None:
    clock = ManualClock()
    lim = RateLimiter(RateLimitConfig(), clock=clock, max_buckets=50)
    for n in range(500):
        lim.hit("POST", "/tasks", f"ip:{n}")
    assert len(lim) <= 51
    clock.advance(3601)  # longer than the longest period: every bucket is full again
    lim.hit("POST", "/tasks", "ip:new")
    assert len(lim) == 1


# -- over HTTP -----------------------------------------------------------------------------


async def test_limit_reached_exactly_over_http(make_client: MakeClient, manual_clock) -> None:
    client = await make_client(rate_limits={"endpoints": {"GET /things": "3/minute"}})
    headers = {"X-API-Key": KEYS["user"]}
    for n in range(3):
        resp = await client.get("/api/v1/things", headers=headers)
        assert resp.status == 200
        assert resp.headers["X-RateLimit-Limit"] == "3"
        assert resp.headers["X-RateLimit-Remaining"] == str(2 - n)
        assert "Retry-After" not in resp.headers
    resp = await client.get("/api/v1/things", headers=headers)
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "20"
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    assert resp.headers["X-RateLimit-Reset"] == str(math.ceil(manual_clock.now() + 60))
    assert await resp.json() == {"detail": "Rate limit exceeded. Try again in 20 seconds."}
    # another principal is unaffected; the first one gets back in after Retry-After
    assert (await client.get("/api/v1/things", headers={"X-API-Key": KEYS["agent"]})).status == 200
    manual_clock.advance(20)
    assert (await client.get("/api/v1/things", headers=headers)).status == 200


async def test_anonymous_and_failed_logins_are_limited_per_address(make_client: MakeClient) -> None:
    client = await make_client(rate_limits={"endpoints": {"GET /things": "2/minute"}})
    bad = {"X-API-Key": "guess-0123456789abcdef"}
    assert [(await client.get("/api/v1/things", headers=bad)).status for _ in range(3)] == [
        401, 401, 429
    ]
    resp = await client.get("/api/v1/things")  # same address, no credentials
    assert resp.status == 429
    # a valid principal has its own bucket
    assert (await client.get("/api/v1/things", headers={"X-API-Key": KEYS["user"]})).status == 200


@pytest.mark.parametrize(
    "method,path,kwargs,status",
    [
        ("GET", "/api/v1/public", {}, 200),
        ("GET", "/public", {}, 200),
        ("GET", "/api/v1/things", {}, 401),
        ("GET", "/api/v1/things", {"headers": {"X-API-Key": KEYS["user"]}}, 200),
        ("POST", "/api/v1/things", {"headers": {"X-API-Key": KEYS["user"]}}, 403),
        ("POST", "/api/v1/things", {"headers": {"X-API-Key": KEYS["agent"]}, "data": b"{"}, 400),
        ("GET", "/api/v1/crash", {}, 500),
        ("GET", "/api/v1/nowhere", {}, 404),
        ("PUT", "/api/v1/public", {}, 405),
        ("GET", "/api/v1/openapi.json", {}, 200),
        ("GET", "/api/v1/stream", {"headers": {"X-API-Key": KEYS["user"]}}, 200),
    ],
)
async def test_rate_headers_on_every_response(
    client: AppClient, method: str, path: str, kwargs: dict, status: int
) -> None:
    resp = await client.request(method, path, **kwargs)
    assert resp.status == status
    for header in RATE_HEADERS:
        assert resp.headers[header].isdigit(), header


async def test_disabled_means_no_limit_and_no_headers(make_client: MakeClient) -> None:
    client = await make_client(rate_limits={"enabled": False, "endpoints": {"GET /public": "1/minute"}})
    for _ in range(5):
        resp = await client.get("/api/v1/public")
        assert resp.status == 200
        assert not any(h in resp.headers for h in RATE_HEADERS)


def test_replicas_share_each_limit_so_a_round_robin_caller_gets_the_configured_total() -> None:
    """``replicas = 3``: each replica enforces ceil(limit / 3), so a caller whose requests a
    load balancer spreads round-robin over the three gets the configured limit (up to
    replicas - 1 more, from the rounding), not three times it."""
    clock = ManualClock()
    cluster = [limiter(clock, replicas=3) for _ in range(3)]
    allowed = sum(cluster[n % 3].hit("POST", "/api/v1/tasks", "jwt:a").allowed
                  for n in range(30))
    assert allowed == 12  # ceil(10 / 3) = 4 per replica
    first = cluster[0].hit("GET", "/api/v1/tasks/t1", "jwt:a")
    assert first.limit == 10  # 30/minute over three replicas; headers show this replica's share
    alone = limiter(clock)  # replicas = 1 (the default): the configured figure, unchanged
    assert sum(alone.hit("POST", "/api/v1/tasks", "jwt:b").allowed for _ in range(30)) == 10
    with pytest.raises(ValueError):
        RateLimitConfig(replicas=0)
