"""Settings: one object built once from arguments > environment > config file > defaults.

The config file is YAML in LiteLLM proxy's format (``model_list``, ``router_settings``,
``litellm_settings``, ``general_settings``, ``environment_variables``) with Spyglass's own
sections beside them. Every setting has an environment variable ``SPYGLASS_<KEY>``, nested keys
joined by ``__`` (``SPYGLASS_SERVER__PORT=4001``). Secrets may be written ``os.environ/VAR``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from evals import OnlineEvalConfig
from gateway import (
    AuthConfig,
    CacheConfig,
    ConfigError,
    GatewayConfig,
    ModelEntry,
    RouterSettings,
    check_config,
    unknown_keys,
)
from prompts import PromptsConfig
from tracing import TracingConfig

from ._yaml import YamlDocument

__all__ = ["ServerSettings", "Settings", "find_config_file", "load_settings"]

DEFAULT_CONFIG_NAME = "spyglass.yaml"

# LiteLLM sections that are accepted; keys in them Spyglass does not act on are reported.
_LITELLM_SETTINGS_USED = {
    "num_retries",
    "request_timeout",
    "fallbacks",
    "context_window_fallbacks",
    "cache",
    "cache_params",
}
# LiteLLM's cache_params keys Spyglass maps onto its `cache:` section (type: local | redis).
_LITELLM_CACHE_TYPES = {"local": "memory", "redis": "redis"}
_GENERAL_SETTINGS_USED = {"database_url", "master_key", "redis_url"}


class ServerSettings(BaseModel):
    """How ``spyglass serve`` listens."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=4000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    max_request_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    access_log: bool = False
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"


class Settings(BaseSettings):
    """Everything Spyglass is configured with. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="SPYGLASS_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
    )

    home: Path = Field(default=Path(".spyglass"), description="where the embedded store lives")
    database_url: SecretStr | None = Field(
        default=None, description="PostgreSQL URL; the embedded SQLite file when unset"
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="the admin key; when set, every route but /health needs a key",
    )
    auth: AuthConfig = Field(default_factory=AuthConfig)
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis, for state replicas share (rate limits, budgets, the response cache)",
    )
    server: ServerSettings = Field(default_factory=ServerSettings)
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    prompts: PromptsConfig = Field(default_factory=PromptsConfig)
    online_evals: OnlineEvalConfig = Field(default_factory=OnlineEvalConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    model_list: list[ModelEntry] = Field(default_factory=list)
    router_settings: RouterSettings = Field(default_factory=RouterSettings)
    litellm_settings: dict[str, Any] = Field(default_factory=dict)
    general_settings: dict[str, Any] = Field(default_factory=dict)
    environment_variables: dict[str, str | int | float | bool] = Field(default_factory=dict)
    # Where the config file is (relative paths in it, such as a python scorer's file, are
    # relative to it); the working directory without one. Set by load_settings.
    _config_dir: Path | None = PrivateAttr(default=None)

    def config_dir(self) -> Path:
        return self._config_dir or Path.cwd()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments > environment (no .env files, no secrets dir); the config file's source is
        # appended below both by load_settings.
        return init_settings, env_settings

    def gateway_config(self) -> GatewayConfig:
        """The gateway's part, with LiteLLM's ``litellm_settings`` folded into the router's."""
        router = self.router_settings
        extra = {k: v for k, v in self.litellm_settings.items() if k in _LITELLM_SETTINGS_USED}
        updates: dict[str, Any] = {}
        fields_set = router.model_fields_set
        if "num_retries" in extra and "num_retries" not in fields_set:
            updates["num_retries"] = extra["num_retries"]
        if "request_timeout" in extra and "timeout" not in fields_set:
            updates["timeout"] = extra["request_timeout"]
        for key in ("fallbacks", "context_window_fallbacks"):
            if key in extra and key not in fields_set:
                updates[key] = extra[key]
        if updates:
            router = RouterSettings.model_validate({**router.model_dump(), **updates})
        return GatewayConfig(
            model_list=self.model_list,
            router_settings=router,
            max_request_body_bytes=self.server.max_request_body_bytes,
            cache=self.cache_config(),
        )

    def cache_config(self) -> CacheConfig:
        """``cache:``, with LiteLLM's ``litellm_settings.cache``/``cache_params`` beneath it.

        ``cache: true`` turns the cache on; ``cache_params`` gives ``type`` (local, redis),
        ``ttl`` and ``namespace``. Keys set in ``cache:`` (or its variables) win.
        """
        cache = self.cache
        updates: dict[str, Any] = {}
        fields_set = cache.model_fields_set
        if self.litellm_settings.get("cache") is True and "enabled" not in fields_set:
            updates["enabled"] = True
        params = self.litellm_settings.get("cache_params")
        if isinstance(params, dict):
            kind = _LITELLM_CACHE_TYPES.get(str(params.get("type")))
            if kind is not None and "backend" not in fields_set:
                updates["backend"] = kind
            for key in ("ttl", "namespace"):
                if params.get(key) is not None and key not in fields_set:
                    updates[key] = params[key]
        if not updates:
            return cache
        return CacheConfig.model_validate({**cache.model_dump(), **updates})

    def master_key_value(self) -> str | None:
        """The master key: ``master_key`` (``SPYGLASS_MASTER_KEY``), ``auth.master_key``, or
        LiteLLM's ``general_settings.master_key``."""
        for secret in (self.master_key, self.auth.master_key):
            if secret is not None and secret.get_secret_value():
                return secret.get_secret_value()
        legacy = self.general_settings.get("master_key")
        return legacy if isinstance(legacy, str) and legacy else None

    def redis_url_value(self) -> str | None:
        """The Redis URL, from ``redis_url`` or LiteLLM's ``general_settings``/cache params."""
        if self.redis_url is not None:
            return self.redis_url.get_secret_value()
        url = self.general_settings.get("redis_url")
        return url if isinstance(url, str) and url else None

    def database_url_value(self) -> str:
        """The SQLAlchemy URL of the store: PostgreSQL if configured, else SQLite in ``home``."""
        if self.database_url is not None:
            url = self.database_url.get_secret_value()
        elif isinstance(self.general_settings.get("database_url"), str):
            url = self.general_settings["database_url"]
        else:
            return f"sqlite:///{(self.home / 'spyglass.db').resolve()}"
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url


def find_config_file(explicit: str | Path | None) -> Path | None:
    """``--config FILE``, else ``SPYGLASS_CONFIG``, else ``./spyglass.yaml`` if present."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get("SPYGLASS_CONFIG")
    if from_env:
        return Path(from_env)
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.is_file() else None


def load_settings(config: str | Path | None = None, **overrides: Any) -> tuple[Settings, list[str]]:
    """Build the settings; returns them and the warnings to show (unknown keys...).

    Raises:
        ConfigError: naming the file, line and key of the first invalid value.
    """
    path = find_config_file(config)
    document: YamlDocument | None = None
    file_values: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        document = YamlDocument.load(path)
        # LiteLLM's `environment_variables` section sets variables the rest may refer to.
        declared = document.values.get("environment_variables")
        if isinstance(declared, dict):
            for key, value in declared.items():
                os.environ.setdefault(str(key), str(value))
        file_values = document.resolve_env()
    warnings: list[str] = []
    known = set(Settings.model_fields)
    for key in file_values:
        if key not in known:
            warnings.append(_where(document, (key,)) + f"unknown key `{key}` is ignored")
    values = {k: v for k, v in file_values.items() if k in known}
    arguments = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = _with_file(values)(**arguments)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, document)) from None
    settings._config_dir = path.parent.resolve() if path is not None else None
    problems = check_config(settings.gateway_config())
    problems += _online_problems(settings)
    if problems:
        raise ConfigError(
            "invalid configuration:\n  "
            + "\n  ".join(
                f"{_where(document, _dotted_to_path(key))}{key}: {message}"
                for key, message in problems
            )
        )
    warnings += [
        _where(document, _dotted_to_path(k)) + f"unknown key `{k}` is ignored"
        for k in unknown_keys(settings.gateway_config())
    ]
    for section, used in (
        ("litellm_settings", _LITELLM_SETTINGS_USED),
        ("general_settings", _GENERAL_SETTINGS_USED),
    ):
        for key in getattr(settings, section):
            if key not in used:
                warnings.append(
                    _where(document, (section, key)) + f"`{section}.{key}` is not used by Spyglass"
                )
    return settings, warnings


def _with_file(values: dict[str, Any]) -> type[Settings]:
    """Settings whose lowest-priority source (above defaults) is the config file's values."""

    class _FileSource(PydanticBaseSettingsSource):
        def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
            return values.get(field_name), field_name, False

        def __call__(self) -> dict[str, Any]:
            return dict(values)

    class FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, _FileSource(settings_cls)

    return FileSettings


def _online_problems(settings: Settings) -> list[tuple[str, str]]:
    """The ``online_evals`` rules' scorers, built as the server will build them: their
    problems as (dotted key, message)."""
    if not settings.online_evals.rules:
        return []
    from evals import EvalConfigError, build_rules

    models = {entry.model_name for entry in settings.model_list}
    try:
        build_rules(
            settings.online_evals,
            models=models,
            base_dir=settings.config_dir(),
        )
    except EvalConfigError as exc:
        found = []
        for line in exc.message.splitlines():
            key, _, message = line.partition(": ")
            found.append((key, message))
        return found
    return []


def _where(document: YamlDocument | None, path: tuple[str | int, ...]) -> str:
    if document is None:
        return ""
    line = document.line_of(path)
    return f"{document.path}:{line}: " if line else f"{document.path}: "


def _dotted_to_path(dotted: str) -> tuple[str | int, ...]:
    path: list[str | int] = []
    for part in dotted.split("."):
        name, _, rest = part.partition("[")
        if name:
            path.append(name)
        if rest:
            path.append(int(rest.rstrip("]")))
    return tuple(path)


def _describe(exc: ValidationError, document: YamlDocument | None) -> str:
    """The first errors, each with its key path and (from the file) line."""
    lines = []
    for error in exc.errors()[:5]:
        loc = tuple(
            p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function"))
        )
        key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        message = error["msg"]
        if error["type"] == "missing":
            message = "required key is missing"
        elif error["type"] == "extra_forbidden":
            message = "unknown key"
        got = error.get("input")
        shown = (
            ""
            if error["type"] in ("missing", "extra_forbidden") or isinstance(got, dict | list)
            else f" (got {got!r})"
        )
        if "api_key" in key or "secret" in key.lower() or "database_url" in key:
            shown = ""
        lines.append(f"{_where(document, loc)}{key}: {message}{shown}")
    if len(exc.errors()) > 5:
        lines.append(f"... and {len(exc.errors()) - 5} more")
    return "invalid configuration:\n  " + "\n  ".join(lines)
