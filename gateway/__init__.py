"""The OpenAI-compatible gateway: endpoints, configuration, routing and providers.

Build a :class:`Gateway` from a :class:`GatewayConfig` and an httpx transport, then mount
``Endpoints(gateway).routes()`` in an ASGI app (``spyglass.create_app`` does this).

Names load on first use: a command that needs only the configuration (or its errors) does not
import the web framework, the router or the providers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_MODULES = {
    "Access": "._auth",
    "AuthConfig": "._access",
    "AuthenticationError": ".errors",
    "BudgetAlerts": "._access",
    "CacheConfig": "._config",
    "check_config": "._gateway",
    "ConfigError": ".errors",
    "DeploymentParams": "._config",
    "Endpoints": "._endpoints",
    "error_response": "._endpoints",
    "Gateway": "._gateway",
    "GatewayConfig": "._config",
    "GatewayError": ".errors",
    "hash_key": "._keys",
    "InvalidRequestError": ".errors",
    "key_of": "._auth",
    "KeyInfo": "._keys",
    "KeyRecord": "._keys",
    "keys_api": "._keys_api",
    "KeySettingsError": "._keys",
    "KeyStore": "._keys",
    "MemoryLimiter": "._limits",
    "ModelEntry": "._config",
    "ModelNotFoundError": ".errors",
    "parse_period": "._access",
    "PermissionDeniedError": ".errors",
    "RateLimitError": ".errors",
    "RedisLimiter": "._limits",
    "Router": "._router",
    "RouterFailure": "._router",
    "RouterSettings": "._config",
    "ServiceUnavailableError": ".errors",
    "TeamLimits": "._access",
    "unknown_keys": "._config",
    "uses_passthrough": "._gateway",
    "v1_openapi_paths": "._openapi",
}

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


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'gateway' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
