"""A store outage is not a bug: a database the request needs and cannot reach answers 503.

Authentication fails closed when the key store is down (a key not in the cache cannot be
checked, so it is not accepted); the caller gets OpenAI's 503 shape with ``Retry-After``, which
the SDKs retry, and the log gets one line naming the failure, not a traceback.
"""

from __future__ import annotations

import logging

from sqlalchemy import exc as sa_exc

from .errors import ServiceUnavailableError

__all__ = ["RETRY_AFTER_SECONDS", "as_outage"]

log = logging.getLogger("spyglass.gateway")

RETRY_AFTER_SECONDS = 2

# The database could not be reached, dropped the connection, or the pool had none to give.
_OUTAGES = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


def as_outage(exc: BaseException, what: str) -> ServiceUnavailableError | None:
    """The 503 for ``exc`` when it is a store outage (logged in one line), else None.

    Args:
        exc: what the store call raised.
        what: the step that needed the store, for the log and the message ("checking the key").
    """
    if not isinstance(exc, _OUTAGES):
        return None
    orig = getattr(exc, "orig", None)  # the driver's error, as psycopg.OperationalError
    kind = type(exc).__name__ + (f" ({type(orig).__name__})" if orig is not None else "")
    log.warning("database unavailable while %s: %s", what, kind)
    return ServiceUnavailableError(
        f"The gateway's database is unavailable while {what}; retry in a few seconds.",
        headers={"retry-after": str(RETRY_AFTER_SECONDS)},
    )
