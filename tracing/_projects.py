"""Projects on spans: ``spyglass.project`` names the team a span belongs to.

The gateway sets it from the caller's key. Spans received over OTLP keep the one their
client set, unless the key that sent them is confined to a project: then the receiver
overwrites it on every span with ``stamp_project``, so an application holding team A's key
cannot file spans under team B.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KEY_ATTRIBUTE", "PROJECT_ATTRIBUTE", "drop_attribute", "stamp_project"]

PROJECT_ATTRIBUTE = "spyglass.project"
KEY_ATTRIBUTE = "spyglass.key.id"


def stamp_project(request: Any, project: str) -> None:
    """Set ``spyglass.project`` to ``project`` on every span of an ExportTraceServiceRequest.

    It works on the decoded protobuf, before its spans are converted: attributes are a
    repeated list there, so a value the client sent (even several times) is removed first.
    """
    for span in _spans(request):
        _drop(span.attributes, PROJECT_ATTRIBUTE)
        stamp = span.attributes.add()
        stamp.key = PROJECT_ATTRIBUTE
        stamp.value.string_value = project


def drop_attribute(request: Any, key: str) -> None:
    """Remove the attribute ``key`` from every span of an ExportTraceServiceRequest.

    The receiver drops ``spyglass.key.id`` from spans a non-admin key sends: the store
    attributes cost to keys by it (usage, and budgets recounted after a restart), and only
    the gateway, or another Spyglass exporting with an admin key, may say which key paid.
    """
    for span in _spans(request):
        _drop(span.attributes, key)


def _spans(request: Any) -> Any:
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            yield from scope_spans.spans


def _drop(attributes: Any, key: str) -> None:
    for index in range(len(attributes) - 1, -1, -1):
        if attributes[index].key == key:
            del attributes[index]
