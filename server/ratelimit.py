"""Token-bucket rate limits per endpoint rule and caller (seed 003 table, seed 001 defaults).

Rules come from ``RateLimitConfig``:

- ``endpoints``: ``{"POST /tasks": "10/minute", "GET /approvals/*": "5/minute", ...}``.
  A key is ``"METHOD /path"`` relative to ``/api/v1`` (the method may be ``*`` or left out
  for any method). Path segments: a literal; ``{name}`` or ``*`` for exactly one segment; a
  ``*`` at the end for one or more segments. The most specific matching rule wins (most
  literal segments first). Paths served at the root (``GET /stats``) or under seed 001's
  ``/v1`` match the same rules.
- everything without an endpoint rule shares two buckets per caller: ``default``
  (seed 001's 1000/hour) and ``burst`` (100/minute); a request needs a token from both.

Why a token bucket with capacity = limit and refill = limit/period: "10/minute" then means
exactly what seed 003 says (10 requests, the 11th is refused) while a steady client is never
locked out for a whole fixed window. A refused request consumes nothing.

Buckets are keyed by (rule, identity): the principal (``jwt:<sub>`` / ``api_key:<name>``) or
``ip:<address>`` for anonymous callers, so failed logins are throttled per address.
Memory stays bounded: buckets idle longer than the longest rule period are full again and
are dropped (losslessly); past ``max_buckets`` the least recently used go first.

Replicas (issue 16): buckets live in each replica's memory, not in the store (a store
round trip per request would cost more than the request). With ``replicas = N`` each
replica enforces ceil(limit / N): behind a round-robin balancer a caller's cluster-wide
allowance is the configured limit (plus at most N - 1 from the rounding); behind sticky
sessions a caller reaches one replica and gets ceil(limit / N). ``replicas = 1`` (the
default) is the single-server behaviour.

Usage::

    limiter = RateLimiter(config.rate_limits, clock=clock)
    result = limiter.hit("POST", "/api/v1/tasks", principal.rate_key)
    if not result.allowed: ...429 with result.headers() and result.retry_after
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from switchboard.engine.clock import Clock, SystemClock
from switchboard.engine.config import RateLimitConfig, parse_rate
from switchboard.server import API_BASE, SEED001_BASE

DEFAULT_RULE: Final = "@default"
BURST_RULE: Final = "@burst"
_EPSILON: Final = 1e-9  # float refill must not turn "exactly 1 token" into 0.99999
HTTP_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def share(rate: str, replicas: int) -> tuple[int, float]:
    """One replica's part of ``rate`` when ``replicas`` replicas serve one cluster:
    ceil(limit / replicas) per period (never 0: a caller is never locked out)."""
    limit, period = parse_rate(rate)
    return math.ceil(limit / replicas), period


def _is_wildcard(segment: str) -> bool:
    return segment == "*" or (segment.startswith("{") and segment.endswith("}"))


def split_path(path: str, base: str = API_BASE) -> tuple[str, ...]:
    """``/api/v1/tasks/t1/`` -> ``("tasks", "t1")``; the base prefix is optional. Seed
    001's base (``/v1/tasks``) counts against the same rules as ``/api/v1/tasks``."""
    for prefix in (base, SEED001_BASE):
        if path == prefix or path.startswith(prefix + "/"):
            path = path[len(prefix) :]
            break
    return tuple(part for part in path.split("/") if part)


@dataclass(frozen=True, slots=True)
class RateRule:
    """One limit: ``limit`` requests per ``period`` seconds for requests it matches."""

    key: str
    limit: int
    period: float
    method: str | None = None  # None: any method
    segments: tuple[str, ...] | None = None  # None: any path (the default/burst rules)
    rest: bool = False  # a trailing "*" matches one or more segments

    @classmethod
    def parse(cls, key: str, rate: str, replicas: int = 1) -> RateRule:
        """Build a rule from a config entry (this replica's share of it); ValueError names
        the bad key."""
        limit, period = share(rate, replicas)
        method, _, path = key.strip().partition(" ")
        if not path:
            method, path = "*", method
        method = method.upper()
        if method != "*" and method not in HTTP_METHODS:
            raise ValueError(f"rate limit key {key!r}: unknown method {method!r}")
        if not path.startswith("/"):
            raise ValueError(f"rate limit key {key!r}: path must start with '/'")
        segments = split_path(path.strip())
        rest = bool(segments) and segments[-1] == "*"
        return cls(
            key=key,
            limit=limit,
            period=period,
            method=None if method == "*" else method,
            segments=segments,
            rest=rest,
        )

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self.limit / self.period

    @property
    def specificity(self) -> tuple[int, int, int]:
        segments = self.segments or ()
        literal = sum(1 for s in segments if not _is_wildcard(s))
        return (literal, len(segments), 0 if self.rest else 1)

    def matches(self, method: str, segments: tuple[str, ...]) -> bool:
        if self.method is not None and self.method != method:
            return False
        pattern = self.segments
        if pattern is None:
            return True
        if self.rest:
            if len(segments) < len(pattern):
                return False
            pattern = pattern[:-1]
        elif len(segments) != len(pattern):
            return False
        return all(_is_wildcard(p) or p == s for p, s in zip(pattern, segments, strict=False))


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """The outcome of one request against its bucket(s).

    ``reset`` is the epoch second when the reported bucket is full again; ``retry_after``
    is the whole seconds to wait before one more request is allowed (0 when allowed).
    """

    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int
    rule: str

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` headers (plus ``Retry-After`` when refused)."""
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out

    @property
    def detail(self) -> str:
        """Seed 003's 429 text."""
        return f"Rate limit exceeded. Try again in {self.retry_after} seconds."


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated


class RateLimiter:
    """In-memory token buckets. Single event loop, no locks needed (no awaits inside).

    ``enabled`` mirrors the config; the app does not install the middleware at all when it
    is False (benchmarks run that way), so ``hit`` itself never checks it.
    """

    def __init__(
        self,
        config: RateLimitConfig,
        *,
        clock: Clock | None = None,
        max_buckets: int = 100_000,
        base_path: str = API_BASE,
    ) -> None:
        self.enabled = config.enabled
        self.exempt_roles = frozenset(config.exempt_roles)
        self._clock: Clock = clock or SystemClock()
        self._max_buckets = max_buckets
        self._base = base_path
        replicas = config.replicas
        rules = [RateRule.parse(key, rate, replicas) for key, rate in config.endpoints.items()]
        rules.sort(key=lambda r: r.specificity, reverse=True)
        self._rules: tuple[RateRule, ...] = tuple(rules)
        limit, period = share(config.default, replicas)
        self._default = RateRule(DEFAULT_RULE, limit, period)
        limit, period = share(config.burst, replicas)
        self._burst = RateRule(BURST_RULE, limit, period)
        self._fallback = (self._default, self._burst)
        self._max_period = max([r.period for r in (*rules, *self._fallback)])
        self._by_method: dict[str, tuple[RateRule, ...]] = {
            m: tuple(r for r in self._rules if r.method in (None, m)) for m in HTTP_METHODS
        }
        self._any_method = tuple(r for r in self._rules if r.method is None)
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()

    def __len__(self) -> int:
        """Number of live buckets (tests and metrics use it to check the memory bound)."""
        return len(self._buckets)

    @property
    def rules(self) -> tuple[RateRule, ...]:
        """Endpoint rules, most specific first."""
        return self._rules

    def rules_for(self, method: str, path: str) -> tuple[RateRule, ...]:
        """The rule(s) a request is counted against: its endpoint rule, or default + burst."""
        segments = split_path(path, self._base)
        method = method.upper()
        for rule in self._by_method.get(method, self._any_method):
            if rule.matches(method, segments):
                return (rule,)
        return self._fallback

    def hit(self, method: str, path: str, identity: str) -> RateLimitResult:
        """Count one request by ``identity`` to ``method path`` and say whether it may pass."""
        now = self._clock.now()
        self._evict(now)
        rules = self.rules_for(method, path)
        buckets = [self._bucket(rule, identity, now) for rule in rules]
        refused = [(r, b) for r, b in zip(rules, buckets, strict=True) if b.tokens < 1.0 - _EPSILON]
        if refused:
            rule, bucket = max(refused, key=lambda rb: (1.0 - rb[1].tokens) / rb[0].rate)
            wait = (1.0 - bucket.tokens) / rule.rate
            return self._result(rule, bucket, now, allowed=False, retry_after=wait)
        for bucket in buckets:
            bucket.tokens -= 1.0
        rule, bucket = min(zip(rules, buckets, strict=True), key=lambda rb: rb[1].tokens)
        return self._result(rule, bucket, now, allowed=True, retry_after=0.0)

    def reset(self) -> None:
        """Forget every bucket (config reload, tests)."""
        self._buckets.clear()

    def _bucket(self, rule: RateRule, identity: str, now: float) -> _Bucket:
        key = (rule.key, identity)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(rule.limit), now)
            self._buckets[key] = bucket
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(rule.limit), bucket.tokens + elapsed * rule.rate)
            bucket.updated = now
            self._buckets.move_to_end(key)
        return bucket

    def _evict(self, now: float) -> None:
        # Oldest first: anything idle for the longest period has refilled completely, so
        # dropping it changes nothing. The cap is the backstop against address spraying.
        buckets = self._buckets
        while buckets:
            key, oldest = next(iter(buckets.items()))
            if now - oldest.updated >= self._max_period or len(buckets) >= self._max_buckets:
                del buckets[key]
            else:
                break

    @staticmethod
    def _result(
        rule: RateRule, bucket: _Bucket, now: float, *, allowed: bool, retry_after: float
    ) -> RateLimitResult:
        full_in = (rule.limit - bucket.tokens) / rule.rate
        return RateLimitResult(
            allowed=allowed,
            limit=rule.limit,
            remaining=max(0, math.floor(bucket.tokens + _EPSILON)),
            reset=math.ceil(now + full_in),
            retry_after=max(1, math.ceil(retry_after - _EPSILON)) if not allowed else 0,
            rule=rule.key,
        )
