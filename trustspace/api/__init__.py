"""The management API: plain JSON under ``/api``, for the CLI and scripts.

One module per noun; each gives its routes for a :class:`~trustspace.services.runtime.Runtime`
and calls services only.  Authenticated with ``Authorization: Bearer <management_key>``; with
no key configured the API is off (every call 401).  Errors are ``{"error": reason}`` with a
4xx status, mapped from exceptions by the app's one table (:data:`trustspace.app.STATUS`); a
peer that failed is 502, or 504 when it did not answer in time.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from trustspace.api import (
    compute,
    datasets,
    membership,
    negotiations,
    records,
    transfers,
    uploads,
)
from trustspace.services.runtime import Runtime

__all__ = ["routes"]


def routes(rt: Runtime) -> list[BaseRoute]:
    return [
        *records.routes(rt),
        *datasets.routes(rt),
        *negotiations.routes(rt),
        *transfers.routes(rt),
        *membership.routes(rt),
        *compute.routes(rt),
        *uploads.routes(rt),
    ]
