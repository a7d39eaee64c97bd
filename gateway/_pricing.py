"""Prices per token from litellm's bundled price map, read offline without importing litellm."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import orjson

_MAP_FILE = "model_prices_and_context_window_backup.json"


def load_price_map() -> dict[str, Any]:
    """litellm's price map as shipped in the installed package ({} if it is missing)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    for location in spec.submodule_search_locations:
        path = Path(location) / _MAP_FILE
        if path.is_file():
            data = orjson.loads(path.read_bytes())
            return data if isinstance(data, dict) else {}
    return {}


def find_prices(price_map: dict[str, Any], *names: str | None) -> dict[str, Any]:
    """The first price-map entry among ``names`` (full ``provider/model`` names first)."""
    for name in names:
        if not name:
            continue
        entry = price_map.get(name)
        if isinstance(entry, dict):
            return entry
    return {}
