"""Projects on spans: ``spyglass.project`` names the team a span belongs to.

The gateway sets it from the caller's key. Spans received over OTLP keep the one their
client set, unless the key that sent them is confined to a project: then the receiver
overwrites it on every span (``Sender``), so an application holding team A's key cannot
file spans under team B.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["KEY_ATTRIBUTE", "PROJECT_ATTRIBUTE", "Sender"]

PROJECT_ATTRIBUTE = "spyglass.project"
KEY_ATTRIBUTE = "spyglass.key.id"


@dataclass(frozen=True, slots=True)
class Sender:
    """What the key that sent an OTLP request decides about its spans' attributes.

    Applied to each span's decoded attributes (a dict: a key the client sent several times
    is one entry there), as the receiver converts them.

    Args:
        project: the project every span is filed under (the key's, when it is confined to
            one), replacing any ``spyglass.project`` the client set; None keeps the client's.
        keep_key_ids: whether spans may say which key paid for them (``spyglass.key.id``).
            The store attributes cost to keys by it (usage, and budgets recounted after a
            restart): only the gateway, or another Spyglass exporting with an admin key, may.
    """

    project: str | None = None
    keep_key_ids: bool = True

    def apply(self, attributes: dict[str, Any]) -> None:
        """Stamp the project and drop the key id, in place, as this sender must."""
        if self.project is not None:
            attributes[PROJECT_ATTRIBUTE] = self.project
        if not self.keep_key_ids:
            attributes.pop(KEY_ATTRIBUTE, None)
