"""The OpenAI-compatible gateway: endpoints, configuration, routing and providers.

Build a :class:`Gateway` from a :class:`GatewayConfig` and an httpx transport, then mount
``Endpoints(gateway).routes()`` in an ASGI app (``spyglass.create_app`` does this).
"""

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
from ._router import Router, RouterFailure
from .errors import ConfigError, GatewayError, InvalidRequestError, ModelNotFoundError

__all__ = [
    "CacheConfig",
    "ConfigError",
    "DeploymentParams",
    "Endpoints",
    "Gateway",
    "GatewayConfig",
    "GatewayError",
    "InvalidRequestError",
    "ModelEntry",
    "ModelNotFoundError",
    "Router",
    "RouterFailure",
    "RouterSettings",
    "check_config",
    "error_response",
    "unknown_keys",
    "uses_passthrough",
]
