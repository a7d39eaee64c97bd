"""Which span attributes hold message content, in the conventions we read.

One answer for the content policy (what capture-off drops) and for the search index (what is
indexed as text, never as a facet). Imports nothing heavy: the writer process uses it too.
"""

from __future__ import annotations

__all__ = ["CONTENT_ATTRIBUTES", "is_content_key"]

CONTENT_ATTRIBUTES = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.prompt",
        "gen_ai.completion",
        "input.value",
        "output.value",
        "traceloop.entity.input",
        "traceloop.entity.output",
    }
)
# OpenInference's indexed messages; OpenLLMetry's older ``gen_ai.prompt.N.*`` and
# ``gen_ai.completion.N.*`` (a number after the prefix: ``gen_ai.prompt.name`` and
# ``gen_ai.prompt.version`` name a registry prompt, they are not content).
_INDEXED_PREFIXES = ("llm.input_messages.", "llm.output_messages.")
_NUMBERED_PREFIXES = ("gen_ai.prompt.", "gen_ai.completion.")


def is_content_key(key: str) -> bool:
    """Whether attribute ``key`` holds message content."""
    if key in CONTENT_ATTRIBUTES or key.startswith(_INDEXED_PREFIXES):
        return True
    for prefix in _NUMBERED_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) : len(prefix) + 1].isdigit()
    return False
