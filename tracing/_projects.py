"""Projects on spans: ``spyglass.project`` names the team a span belongs to.

The gateway sets it from the caller's key. Spans received over OTLP keep the one their
client set, unless the key that sent them is confined to a project: then the receiver
overwrites it on every span with ``stamp_project``, so an application holding team A's key
cannot file spans under team B.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROJECT_ATTRIBUTE", "stamp_project"]

PROJECT_ATTRIBUTE = "spyglass.project"


def stamp_project(request: Any, project: str) -> None:
    """Set ``spyglass.project`` to ``project`` on every span of an ExportTraceServiceRequest.

    It works on the decoded protobuf, before its spans are converted: attributes are a
    repeated list there, so a value the client sent (even several times) is removed first.
    """
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attributes = span.attributes
                for index in range(len(attributes) - 1, -1, -1):
                    if attributes[index].key == PROJECT_ATTRIBUTE:
                        del attributes[index]
                stamp = attributes.add()
                stamp.key = PROJECT_ATTRIBUTE
                stamp.value.string_value = project
