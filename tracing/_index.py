"""What the store indexes besides its columns: a span's searchable text, and (on SQLite) its
short scalar attributes as facet tokens.

Text search (``q=``) and attribute equality (``attr=key:value``) would otherwise read every
candidate span's JSON. The write path computes both here, in the writer (process), from the
row it stores, into ``spans.search_text`` and ``spans.attribute_tokens``; SQLite indexes both
with FTS5, PostgreSQL the first with ``pg_trgm`` (its GIN index on ``attributes`` serves
attribute filters).

A facet is an attribute's key and its value with the value's JSON type (``s:text``, ``n:3``,
``b:true``), so a filter compares as JSONB containment does: a number never equals text,
``true`` is not ``1``, and ``3`` equals ``3.0``. Its token is 64 bits of its BLAKE2 hash in
hex: one word to the full-text index, whatever the key and value hold. (A B-tree of
``(key, value, trace_id)`` rows was tried first: its random inserts cost 25 us a span on an
empty store and grew with it; FTS5 appends segments.)
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping
from typing import Any

import orjson

from ._content import is_content_key

__all__ = [
    "FACET_VALUE_CHARS",
    "attribute_facets",
    "attribute_tokens",
    "facet_candidates",
    "facet_token",
    "search_text",
]

# Longer values (message JSON, documents) are not facets: they would bloat the index and
# nobody filters on them by equality; a filter naming such a value reads the spans instead.
FACET_VALUE_CHARS = 256


_TEXT_KEYS = frozenset({"content", "response"})
_NESTED_TEXT_KEYS = frozenset({"arguments", "response"})


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def attribute_facets(attributes: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The ``(key, facet)`` pairs of a span's indexable attributes: short scalars, typed
    (``s:text``, ``n:3``, ``b:true``); never message content, arrays or maps."""
    found = []
    for key, value in attributes.items():
        kind = type(value)  # exact types: bool is not an int here
        if kind is str:
            if len(value) > FACET_VALUE_CHARS:
                continue
            facet = "s:" + value
        elif kind is int:
            facet = "n:" + str(value)
        elif kind is bool:
            facet = "b:true" if value else "b:false"
        elif kind is float:
            if not math.isfinite(value):
                continue
            facet = "n:" + _number(value)
        else:
            continue
        if _is_facet_key(key):
            found.append((key, facet))
    return found


@functools.lru_cache(maxsize=4096)
def _is_facet_key(key: str) -> bool:
    """Keys repeat from span to span, so the answer is cached."""
    # Message content is indexed as text: never a facet, however short.
    return len(key) <= FACET_VALUE_CHARS and not is_content_key(key)


@functools.lru_cache(maxsize=4096)
def facet_token(key: str, facet: str) -> str:
    """The full-text index's word for one facet (cached: most facets repeat span after span;
    a small cache, as unique values such as response ids would fill a big one, ~200 bytes
    each, in the writer process's memory)."""
    return "f" + hashlib.blake2b(f"{key}\x00{facet}".encode(), digest_size=8).hexdigest()


def attribute_tokens(attributes: Mapping[str, Any]) -> str:
    """A span's facet tokens, one text (``spans.attribute_tokens``).

    The same tokens as ``attribute_facets`` then ``facet_token`` give, found faster: most
    (key, value) pairs repeat from span to span (a model, a provider, a route), so the
    token of a short pair is looked up first, and only a new pair is classified and hashed.
    """
    tokens = []
    cache = _PAIR_TOKENS
    for key, value in attributes.items():
        kind = type(value)
        if kind is str or kind is int or kind is bool:
            pair = (key, kind, value)  # the type too: 1, True and "1" are three facets
            token = cache.get(pair)
            if token is None:
                token = _pair_token(key, value)
                if len(cache) >= _PAIR_CACHE_SIZE:
                    cache.clear()  # unique values (response ids) must not grow it forever
                cache[pair] = token
            if token:
                tokens.append(token)
        elif kind is float and (facet := _float_facet(value)) and _is_facet_key(key):
            tokens.append(facet_token(key, facet))
    return " ".join(tokens)


_PAIR_TOKENS: dict[tuple[str, type, Any], str] = {}
_PAIR_CACHE_SIZE = 8192


def _pair_token(key: str, value: str | int | bool) -> str:
    """The token of a str, int or bool attribute; "" when it is not a facet."""
    found = attribute_facets({key: value})
    return facet_token(*found[0]) if found else ""


def _float_facet(value: float) -> str | None:
    return "n:" + _number(value) if math.isfinite(value) else None


def facet_candidates(key: str, value: str) -> list[str] | None:
    """The facets an ``attr=key:value`` filter matches, or None when the pair cannot be a
    facet (message content, a long value): the filter then reads the spans' attributes."""
    if len(value) > FACET_VALUE_CHARS or not _is_facet_key(key):
        return None
    found = ["s:" + value]
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None and math.isfinite(number):
        found.append("n:" + _number(number))
        try:  # exact for integers beyond a float's precision
            exact = "n:" + str(int(value))
        except ValueError:
            exact = ""
        if exact and exact not in found:
            found.append(exact)
    if value in ("true", "false"):
        found.append("b:" + value)
    return found


def search_text(name: str, content: Any) -> str:
    """The text a span is found by: its name and the text of its messages (not their JSON
    structure: roles, types, ids and finish reasons are left out).

    Args:
        name: the span's name.
        content: the row's ``content``: the normalized messages as a dict, as JSON text (the
            gateway's spans), or None.
    """
    if isinstance(content, str | bytes):
        try:
            content = orjson.loads(content)
        except orjson.JSONDecodeError:
            content = None
    texts = [name]
    if isinstance(content, dict):
        for key, value in content.items():
            if key in ("input_value", "output_value"):
                if isinstance(value, str):
                    texts.append(value)
            elif key == "documents":  # a retriever's: their text, not ids or metadata
                if isinstance(value, list):
                    texts.extend(
                        d["content"]
                        for d in value
                        if isinstance(d, dict) and isinstance(d.get("content"), str)
                    )
            else:
                _texts(value, False, texts)
    return "\n".join(texts)


def _texts(value: Any, inside: bool, found: list[str]) -> None:
    """Collect the strings under message parts' text keys (and anywhere in tool arguments
    and results)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                if inside or key in _TEXT_KEYS or key in _NESTED_TEXT_KEYS:
                    found.append(item)
            elif isinstance(item, dict | list):
                _texts(item, inside or key in _NESTED_TEXT_KEYS, found)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                if inside:
                    found.append(item)
            elif isinstance(item, dict | list):
                _texts(item, inside, found)
