"""The content policy on plain attribute dicts: drop or cut message content, mask secrets.

``ContentPolicyProcessor`` applies it to the SDK's spans; the OTLP receiver's direct path
(``otlp_to_rows``) applies it to the attributes it decodes, without building span objects.
Both return ``None`` when nothing needed changing, so the common case copies nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from ._content import is_content_key

__all__ = ["CONTENT_EVENTS", "TRUNCATED_ATTRIBUTE", "ContentPolicy"]

_SECRET_KEY = re.compile(
    r"(^|[._-])(authorization|api[_-]?key|apikey|secret|password|passwd|access[_-]?token|"
    r"refresh[_-]?token|x-api-key|cookie)$",
    re.IGNORECASE,
)
TRUNCATED_ATTRIBUTE = "spyglass.truncated"
# The GenAI conventions' older event form of messages: the whole of each event is content.
CONTENT_EVENTS = frozenset(
    {
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.choice",
        "gen_ai.content.prompt",
        "gen_ai.content.completion",
    }
)

_KEEP, _CONTENT, _SECRET = 0, 1, 2


@functools.lru_cache(maxsize=4096)
def _classify(key: str) -> int:
    """What an attribute key holds; keys repeat across spans, so this is cached."""
    if is_content_key(key):
        return _CONTENT
    if _SECRET_KEY.search(key) and not key.endswith("tokens"):
        return _SECRET
    return _KEEP


def cut(value: str, limit: int) -> str | None:
    """``value`` cut to ``limit`` bytes of UTF-8 on a character boundary; None if it fits."""
    if len(value) <= limit // 4:  # four bytes a character at most: no need to encode
        return None
    encoded = value.encode("utf-8", "replace")
    if len(encoded) <= limit:
        return None
    return encoded[:limit].decode("utf-8", "ignore")


class ContentPolicy:
    """What of a span may be stored.

    Args:
        capture_content: keep message content at all.
        max_attribute_bytes: longer string attributes are cut and named in
            ``spyglass.truncated``.
    """

    def __init__(self, *, capture_content: bool, max_attribute_bytes: int) -> None:
        self.capture = capture_content
        self.limit = max_attribute_bytes

    def attributes(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        """The attributes as they may be stored, or None when none needed changing."""
        changed: dict[str, Any] | None = None
        truncated: list[str] = []
        capture, limit, quarter = self.capture, self.limit, self.limit // 4
        for key, value in attributes.items():
            kind = _classify(key)
            if kind == _CONTENT and not capture:
                changed = changed if changed is not None else dict(attributes)
                del changed[key]
            elif kind == _SECRET:
                changed = changed if changed is not None else dict(attributes)
                changed[key] = "***"
            elif (
                type(value) is str
                and len(value) > quarter
                and (shorter := cut(value, limit)) is not None
            ):
                changed = changed if changed is not None else dict(attributes)
                changed[key] = shorter
                truncated.append(key)
        if changed is not None and truncated:
            changed[TRUNCATED_ATTRIBUTE] = tuple(truncated)
        return changed

    def keeps_event(self, name: str) -> bool:
        """Whether an event of this name may be stored at all."""
        return self.capture or name not in CONTENT_EVENTS
