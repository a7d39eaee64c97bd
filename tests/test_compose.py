"""docker-compose.yml: valid against the Compose Specification's schema (vendored, see
compose_spec.NOTICE.md), and consistent with Spyglass's settings and routes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from spyglass import Settings, create_app, load_settings
from tests.conftest import REPO

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "docker-compose.yml").read_text()))


def environment(service: dict[str, Any]) -> dict[str, str]:
    found = service.get("environment") or {}
    if isinstance(found, list):
        found = dict(item.split("=", 1) for item in found)
    return {str(k): str(v) for k, v in found.items()}


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> repository file, for the service's bind mounts of repo files."""
    found = {}
    for volume in service.get("volumes") or []:
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            found[target] = REPO / source
    return found


def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads((HERE / "compose_spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_services_replicas_and_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"spyglass", "postgres", "redis", "otel-collector", "jaeger"}
    assert services["spyglass"]["deploy"]["replicas"] == 2
    for name in ("spyglass", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    needs = services["spyglass"]["depends_on"]
    assert needs["postgres"]["condition"] == needs["redis"]["condition"] == "service_healthy"


def _setting_exists(name: str) -> bool:
    """Whether SPYGLASS_A__B names a field (nested through sub-models) of Settings."""
    model: type[BaseModel] = Settings
    parts = name.removeprefix("SPYGLASS_").lower().split("__")
    for index, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if index < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def test_spyglass_service_matches_the_settings(compose: dict[str, Any]) -> None:
    services = compose["services"]
    spyglass = services["spyglass"]
    env = environment(spyglass)
    unknown = [n for n in env if n.startswith("SPYGLASS_") and not _setting_exists(n)]
    assert not unknown, f"not Spyglass settings: {unknown}"
    # The port it serves on is the one published and probed.
    command = spyglass["command"]
    port = command[command.index("--port") + 1]
    assert all(str(p).endswith(f":{port}") for p in spyglass["ports"])
    probe = " ".join(spyglass["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/health/ready" in probe
    # The database and Redis are the compose services, with their credentials.
    database = urlsplit(env["SPYGLASS_DATABASE_URL"])
    pg_env = environment(services["postgres"])
    assert (database.hostname, database.port) == ("postgres", 5432)
    assert (database.username, database.password) == (
        pg_env["POSTGRES_USER"],
        pg_env["POSTGRES_PASSWORD"],
    )
    assert database.path == "/" + pg_env["POSTGRES_DB"]
    assert urlsplit(env["SPYGLASS_REDIS_URL"]).hostname == "redis"
    # The mounted config loads as it is, with these variables, without warnings.
    config = mounts(spyglass)[command[command.index("--config") + 1]]
    settings, warnings = load_settings(config)
    assert warnings == []
    assert settings.model_list


def test_health_check_paths_exist_in_the_app(settings_from: Any) -> None:
    app = create_app(settings_from({}))
    paths = {getattr(route, "path", None) for route in app.routes}
    assert {"/health/ready", "/health/live"} <= paths


def test_collector_receives_from_spyglass_and_forwards_to_jaeger(compose: dict[str, Any]) -> None:
    services = compose["services"]
    collector = services["otel-collector"]
    endpoint = urlsplit(environment(services["spyglass"])["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert endpoint.hostname == "otel-collector"
    command = " ".join(collector["command"])
    config_path = command.split("--config=")[1].split()[0]
    config_file = mounts(collector)[config_path]
    assert config_file.is_file()
    config = yaml.safe_load(config_file.read_text())
    http = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert http.endswith(f":{endpoint.port}")
    pipeline = config["service"]["pipelines"]["traces"]
    assert "otlp" in pipeline["receivers"]
    to_jaeger = [
        e
        for e in pipeline["exporters"]
        if urlsplit("//" + config["exporters"][e]["endpoint"]).hostname == "jaeger"
    ]
    assert to_jaeger, "the traces pipeline exports to no jaeger endpoint"
    assert "jaeger" in collector["depends_on"]
    assert environment(services["jaeger"])["COLLECTOR_OTLP_ENABLED"] == "true"
