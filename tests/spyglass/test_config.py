"""Config files: LiteLLM's format as is, precedence, and errors that name key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import ConfigError, Gateway
from spyglass import load_settings

LITELLM_CONFIG = """\
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: azure/gpt-4o-eu
      api_base: https://eu.openai.azure.com
      api_key: os.environ/AZURE_API_KEY
      api_version: "2024-10-21"
      rpm: 900
      timeout: 30
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY
      tpm: 100000
  - model_name: claude
    litellm_params:
      model: anthropic/claude-3-5-sonnet-20241022
      api_key: os.environ/ANTHROPIC_API_KEY
    model_info:
      id: claude-main

router_settings:
  routing_strategy: least-busy
  num_retries: 3
  timeout: 45
  allowed_fails: 2
  cooldown_time: 15
  fallbacks: [{"gpt-4o": ["claude"]}]
  context_window_fallbacks: [{"gpt-4o": ["claude"]}]
  redis_host: localhost

litellm_settings:
  drop_params: true
  num_retries: 7

general_settings:
  master_key: sk-1234
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_litellm_proxy_config_loads_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_API_KEY", "az-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    settings, warnings = load_settings(write(tmp_path, LITELLM_CONFIG))
    assert [e.model_name for e in settings.model_list] == ["gpt-4o", "gpt-4o", "claude"]
    first = settings.model_list[0].litellm_params
    assert first.api_key is not None and first.api_key.get_secret_value() == "az-secret"
    assert (first.rpm, first.timeout, first.api_version) == (900, 30, "2024-10-21")
    router = settings.gateway_config().router_settings
    assert router.routing_strategy == "least-busy"
    assert router.num_retries == 3  # router_settings wins over litellm_settings
    assert router.fallbacks == [{"gpt-4o": ["claude"]}]
    assert any("router_settings.redis_host" in w and ":30:" in w for w in warnings)
    assert any("litellm_settings.drop_params" in w for w in warnings)
    # LiteLLM's master key is Spyglass's master key.
    assert not any("general_settings.master_key" in w for w in warnings)
    assert settings.master_key_value() == "sk-1234"
    # The secret is a SecretStr: it never shows in a repr.
    assert "az-secret" not in repr(settings)


def test_missing_environment_variable_names_key_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_API_KEY", "az-secret")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, LITELLM_CONFIG))
    message = caught.value.message
    assert "config.yaml:13:" in message
    assert "model_list[1].litellm_params.api_key" in message
    assert "OPENAI_API_KEY is not set" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "model_list:\n  - model_name: a\n    litellm_params:\n      api_base: http://x\n",
            ["config.yaml:3:", "model_list[0].litellm_params.model: required key is missing"],
        ),
        (
            "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n      rpm: lots\n",
            ["config.yaml:5:", "model_list[0].litellm_params.rpm", "'lots'"],
        ),
        (
            "router_settings:\n  routing_strategy: fastest\n",
            ["config.yaml:2:", "router_settings.routing_strategy", "simple-shuffle"],
        ),
        (
            "server:\n  port: 99999\n",
            ["config.yaml:2:", "server.port", "less than or equal to 65535"],
        ),
        (
            "server:\n  prot: 4000\n",
            ["config.yaml:2:", "server.prot: unknown key"],
        ),
        ("model_list: [\n", ["config.yaml:2:", "invalid YAML"]),
        ("- a\n- b\n", ["config.yaml:1:", "must be a mapping"]),
    ],
)
def test_invalid_config_is_a_clear_error(tmp_path: Path, text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    for fragment in expected:
        assert fragment in caught.value.message
    assert "Traceback" not in caught.value.message


def test_secret_values_are_not_echoed_in_errors(tmp_path: Path) -> None:
    text = "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n      api_key: [sk-very-secret]\n"
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert "sk-very-secret" not in caught.value.message
    assert "api_key" in caught.value.message


def test_unknown_top_level_key_is_a_warning(tmp_path: Path) -> None:
    _, warnings = load_settings(write(tmp_path, "model_lists: []\n"))
    assert warnings == [f"{tmp_path / 'config.yaml'}:1: unknown key `model_lists` is ignored"]


def test_precedence_argument_env_file_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "server:\n  port: 4100\n  host: 0.0.0.0\nhome: from-file\n")
    settings, _ = load_settings(path)
    assert (settings.server.port, settings.server.host, settings.server.workers) == (
        4100,
        "0.0.0.0",
        1,
    )
    monkeypatch.setenv("SPYGLASS_SERVER__PORT", "4200")
    settings, _ = load_settings(path)
    assert (settings.server.port, settings.server.host) == (4200, "0.0.0.0")  # env merges into file
    settings, _ = load_settings(path, home=tmp_path / "from-argument")
    assert settings.home == tmp_path / "from-argument"


def test_config_found_from_env_then_default_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "spyglass.yaml").write_text("server:\n  port: 4300\n")
    assert load_settings()[0].server.port == 4300
    other = tmp_path / "other.yaml"
    other.write_text("server:\n  port: 4400\n")
    monkeypatch.setenv("SPYGLASS_CONFIG", str(other))
    assert load_settings()[0].server.port == 4400
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "missing.yaml")


def test_environment_variables_section_sets_unset_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MY_KEY", raising=False)
    text = "environment_variables:\n  MY_KEY: from-config\nmodel_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n      api_key: os.environ/MY_KEY\n"
    settings, _ = load_settings(write(tmp_path, text))
    key = settings.model_list[0].litellm_params.api_key
    assert key is not None and key.get_secret_value() == "from-config"
    monkeypatch.delenv("MY_KEY", raising=False)


def test_database_url_sqlite_default_and_postgres_normalised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = load_settings(None)
    assert (
        settings.database_url_value()
        == f"sqlite:///{(tmp_path / 'home' / 'spyglass.db').resolve()}"
    )
    monkeypatch.setenv("SPYGLASS_DATABASE_URL", "postgres://u:p@db:5432/spy")
    settings, _ = load_settings(None)
    assert settings.database_url_value() == "postgresql+psycopg://u:p@db:5432/spy"


def test_inconsistent_config_is_an_error_with_its_line(tmp_path: Path) -> None:
    text = "model_list:\n  - model_name: a\n    litellm_params:\n      model: mock/a\nrouter_settings:\n  fallbacks: [{a: [b]}]\n  model_group_alias: {latest: c}\n"
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    message = caught.value.message
    assert "config.yaml:6: router_settings.fallbacks[0]: unknown model group `b`" in message
    assert (
        "config.yaml:7: router_settings.model_group_alias.latest: unknown model group `c`"
        in message
    )


def test_gateway_rejects_inconsistent_config_built_in_code() -> None:
    import httpx

    from gateway import GatewayConfig

    config = GatewayConfig.model_validate(
        {
            "model_list": [{"model_name": "a", "litellm_params": {"model": "mock/a"}}],
            "router_settings": {"fallbacks": [{"a": ["b"]}]},
        }
    )
    with pytest.raises(ConfigError, match="unknown model group `b`"):
        Gateway(config, transport=httpx.AsyncHTTPTransport())
