"""The OpenAI-compatible gateway: endpoints, configuration, routing and providers.

Build a :class:`Gateway` from a :class:`GatewayConfig` and an httpx transport, then mount
``Endpoints(gateway).routes()`` in an ASGI app (``spyglass.create_app`` does this).
"""

from ._access import AuthConfig, BudgetAlerts, TeamLimits, parse_period
from ._auth import Access, key_of
from ._config import (
    CacheConfig,
    DeploymentParams,
    GatewayConfig,
    ModelEntry,
    RouterSettings,
    unknown_keys,
)
from ._endpoints import Endpoints, error_response
from ._gateway import Gateway, check_config, uses_passthrough
from ._keys import KeyInfo, KeyRecord, KeySettingsError, KeyStore, hash_key
from ._keys_api import keys_api
from ._limits import MemoryLimiter, RedisLimiter
from ._openapi import v1_openapi_paths
from ._router import Router, RouterFailure
from .errors import (
    AuthenticationError,
    ConfigError,
    GatewayError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)

__all__ = [
    "Access",
    "AuthConfig",
    "AuthenticationError",
    "BudgetAlerts",
    "CacheConfig",
    "ConfigError",
    "DeploymentParams",
    "Endpoints",
    "Gateway",
    "GatewayConfig",
    "GatewayError",
    "InvalidRequestError",
    "KeyInfo",
    "KeyRecord",
    "KeySettingsError",
    "KeyStore",
    "MemoryLimiter",
    "ModelEntry",
    "ModelNotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedisLimiter",
    "Router",
    "RouterFailure",
    "RouterSettings",
    "ServiceUnavailableError",
    "TeamLimits",
    "check_config",
    "error_response",
    "hash_key",
    "key_of",
    "keys_api",
    "parse_period",
    "unknown_keys",
    "uses_passthrough",
    "v1_openapi_paths",
]
