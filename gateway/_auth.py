"""Who is calling, what they may do, and whether their limits and budgets allow it.

``Access.authenticate`` reads the key (``Authorization: Bearer``, or ``x-api-key`` /
``api-key`` as the Anthropic and Azure SDKs send it). The master key is compared in constant
time; a virtual key is found by its hash and reused for ``key_cache_ttl`` seconds, so a
revocation reaches every replica within that time (at once on the replica that revoked it).

With no master key configured, nothing is required; a virtual key that is presented still
counts (its limits, budget and attribution apply), and a bad one is still refused.

Roles: ``admin`` may do everything; ``member`` calls models and reads and writes prompts and
evals, and scores traces; ``viewer`` only reads (``GET /api``, ``/metrics``, ``GET /v1/models``);
``ingest`` only sends spans (``POST /v1/traces``); ``feedback`` only writes scores (``POST
/api/scores``: an app's browser or mobile client sending its users' thumbs up or down, which
can read nothing). Keys are managed by admins.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from ._access import AuthConfig, parse_period
from ._keys import PREFIX, KeyInfo, KeyStore, hash_key
from ._limits import Limiter, period_start
from ._outage import as_outage
from .errors import AuthenticationError, PermissionDeniedError, RateLimitError

__all__ = ["MASTER", "Access", "key_of"]

log = logging.getLogger("spyglass.auth")

MASTER = KeyInfo(id="master", role="admin", name="master key")
_MEMBER_WRITES = (
    "/api/prompts",
    "/api/experiments",
    "/api/runs",
    "/api/compare",
    "/api/scores",
    "/api/score-configs",
    "/api/datasets",
    "/api/reviews",
)
_READ = frozenset({"GET", "HEAD", "OPTIONS"})


def key_of(headers: Mapping[str, str]) -> str | None:
    """The key a request presents, from the headers OpenAI, Anthropic and Azure SDKs use."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return headers.get("x-api-key") or headers.get("api-key") or None


def permitted(key: KeyInfo, method: str, path: str) -> bool:
    """Whether ``key``'s role may call ``method path``."""
    role = key.role
    if role == "admin":
        return True
    if path == "/api/auth/whoami":
        return True
    if role == "ingest":
        return method == "POST" and path == "/v1/traces"
    if role == "feedback":
        return method == "POST" and path == "/api/scores"
    if path.startswith(("/api/keys", "/api/usage")):
        return False
    if role == "viewer":
        return method in _READ and not path.startswith("/v1/traces")
    # member
    if path.startswith("/v1") or path.startswith("/chat/"):
        return True
    return method in _READ or path.startswith(_MEMBER_WRITES)


class Access:
    """Authentication, authorisation, limits and budgets for one app.

    Args:
        config: the ``auth:`` settings.
        master_key: the admin key (None: authentication is off).
        store: where virtual keys live.
        limiter: counts requests, tokens and spend (``MemoryLimiter`` or ``RedisLimiter``).
        http: the client budget alerts are posted with.
        clock: wall-clock seconds (tests pass a fake one).
    """

    def __init__(
        self,
        config: AuthConfig,
        *,
        master_key: str | None,
        store: KeyStore,
        limiter: Limiter,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.master_key = master_key
        self.required = master_key is not None
        self.store = store
        self.limiter = limiter
        self.http = http
        self.clock = clock
        self._cache: dict[str, tuple[float, KeyInfo | None]] = {}
        self._team_periods = {
            name: parse_period(team.budget_period) for name, team in config.teams.items()
        }
        self._tasks: set[asyncio.Task[None]] = set()

    # -- who -------------------------------------------------------------------------------

    async def authenticate(self, headers: Mapping[str, str]) -> KeyInfo | None:
        """The caller's key; None when nothing is required and nothing was presented.

        Raises:
            AuthenticationError: a key is required and missing, or the key is not valid.
            ServiceUnavailableError: the key store is unreachable and the key is not cached.
        """
        token = key_of(headers)
        if token is None:
            if self.required:
                raise AuthenticationError(
                    "Missing API key: send it as 'Authorization: Bearer <key>'.",
                    code="missing_api_key",
                )
            return None
        if self.master_key is not None and hmac.compare_digest(
            token.encode(), self.master_key.encode()
        ):
            return MASTER
        if not token.startswith(PREFIX):
            if self.required:
                raise AuthenticationError("Incorrect API key provided.")
            return None  # without a master key, other tokens (an SDK's dummy) are ignored
        key = await self._lookup(token)
        if key is None:
            raise AuthenticationError("Incorrect API key provided.")
        if not key.usable(datetime.now(UTC)):
            what = "revoked" if key.revoked_at is not None else "expired"
            raise AuthenticationError(f"This API key has been {what}.", code=f"{what}_api_key")
        return key

    async def _lookup(self, token: str) -> KeyInfo | None:
        digest = hash_key(token)
        now = time.monotonic()
        found = self._cache.get(digest)
        if found is not None and now - found[0] < self.config.key_cache_ttl:
            return found[1]
        try:
            key = await asyncio.to_thread(self.store.find, token)
        except Exception as exc:  # fails closed: a key that could not be checked is refused
            outage = as_outage(exc, "checking the API key")
            if outage is None:
                raise
            raise outage from None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now, key)
        return key

    def forget(self, key_id: str) -> None:
        """Drop a key from the cache (after it was revoked here)."""
        self._cache = {d: v for d, v in self._cache.items() if v[1] is None or v[1].id != key_id}

    def authorize(self, key: KeyInfo | None, method: str, path: str) -> None:
        """Raise ``PermissionDeniedError`` unless ``key`` may call ``method path``."""
        if key is not None and not permitted(key, method, path):
            raise PermissionDeniedError(
                f"A {key.role} key may not {method} {path}.", code="insufficient_role"
            )

    # -- limits ----------------------------------------------------------------------------

    async def admit(self, key: KeyInfo | None, model: str) -> None:
        """Check the key's model list, rate limits and budgets before a call (counts it).

        Raises:
            PermissionDeniedError: the key may not use ``model``.
            RateLimitError: a request or token limit, or a budget, is spent (Retry-After set).
        """
        if key is None or key is MASTER:
            return
        if not key.allows_model(model):
            raise PermissionDeniedError(
                f"This API key may not use model {model!r}.",
                param="model",
                code="model_not_allowed",
            )
        team = self.config.teams.get(key.team) if key.team else None
        checks: list[tuple[str, int | None, int, str]] = [
            (f"key:{key.id}:rpm", key.rpm, 1, "requests per minute of this key"),
            (f"key:{key.id}:tpm", key.tpm, 0, "tokens per minute of this key"),
        ]
        if team is not None:
            checks += [
                (f"team:{key.team}:rpm", team.rpm, 1, f"requests per minute of team {key.team}"),
                (f"team:{key.team}:tpm", team.tpm, 0, f"tokens per minute of team {key.team}"),
            ]
        for name, limit, amount, what in checks:
            if limit is None:
                continue
            wait = await self.limiter.admit(name, limit, amount)
            if wait > 0:
                raise _limited(f"Rate limit reached: {limit} {what}.", wait)
        for name, budget, period, anchor in self._budgets(key):
            start = period_start(self.clock(), period, anchor)
            spent = await self.limiter.spent(name, start)
            if spent >= budget:
                reset = start + period - self.clock()
                raise _limited(
                    f"Budget exceeded: {spent:.4f} of {budget:.2f} USD spent this period "
                    f"({name.split(':')[0]}); it resets in {_human(reset)}.",
                    reset,
                    code="budget_exceeded",
                    error_type="insufficient_quota",
                )

    def _budgets(self, key: KeyInfo) -> list[tuple[str, float, int, float]]:
        out = []
        if key.budget_usd is not None and key.budget_period_s:
            anchor = key.created_at.timestamp() if key.created_at else 0.0
            out.append((f"key:{key.id}", key.budget_usd, key.budget_period_s, anchor))
        team = self.config.teams.get(key.team) if key.team else None
        if team is not None and team.budget_usd is not None:
            out.append(
                (f"team:{key.team}", team.budget_usd, self._team_periods[key.team or ""], 0.0)
            )
        return out

    async def record(self, key: KeyInfo | None, tokens: int, cost: float | None) -> None:
        """Count a finished call's tokens and spend (a cache hit passes 0 for both; an unpriced
        deployment's call has no known cost, None, and spends nothing)."""
        if key is None or key is MASTER:
            return
        await self.limiter.add(f"key:{key.id}:tpm", tokens)
        if key.team:
            await self.limiter.add(f"team:{key.team}:tpm", tokens)
        if cost is None or cost <= 0:
            return
        for name, budget, period, anchor in self._budgets(key):
            start = period_start(self.clock(), period, anchor)
            total = await self.limiter.spend(name, start, cost)
            await self._alert(name, key, budget, total, total - cost, start, period)

    async def _alert(
        self,
        name: str,
        key: KeyInfo,
        budget: float,
        total: float,
        before: float,
        start: float,
        period: int,
    ) -> None:
        alerts = self.config.budget_alerts
        if alerts is None or self.http is None or budget <= 0:
            return
        for share in alerts.thresholds:
            if before < share * budget <= total:
                marker = f"alert:{name}:{int(start)}:{share}"
                if await self.limiter.once(marker, period):
                    event = {
                        "event": "budget_threshold",
                        "subject": name.split(":")[0],
                        "key_id": key.id if name.startswith("key:") else None,
                        "team": key.team,
                        "threshold": share,
                        "budget_usd": budget,
                        "spent_usd": round(total, 6),
                        "period_start": datetime.fromtimestamp(start, UTC).isoformat(),
                    }
                    task = asyncio.create_task(self._post(alerts.url, event))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, event: dict[str, Any]) -> None:
        assert self.http is not None
        try:
            response = await self.http.post(url, json=event, timeout=10)
            if response.status_code >= 400:
                log.warning("budget alert webhook answered %d", response.status_code)
        except Exception as exc:  # an alert never fails the request that triggered it
            log.warning("budget alert webhook failed: %s", type(exc).__name__)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _limited(
    message: str, wait: float, *, code: str | None = None, error_type: str | None = None
) -> RateLimitError:
    seconds = max(1, round(wait))
    error = RateLimitError(message, code=code, headers={"retry-after": str(seconds)})
    if error_type:
        error.error_type = error_type
    return error


def _human(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{max(1, round(seconds))} seconds"
