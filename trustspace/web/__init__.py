"""The portal: server-rendered pages for the people of a node, under ``/portal``.

One module per part of the portal; each gives its routes for a :class:`~trustspace.web.page.Portal`
(the node's :class:`~trustspace.services.runtime.Runtime` and the portal's settings) and its
navigation entries, and calls services only: the same use cases and policy checks as the
management API, with the signed-in person as the actor in the evidence log.  How a page is
written (sessions, roles, CSRF, errors, languages) is :mod:`trustspace.web.page`.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from trustspace.web import (
    assessor,
    buyer,
    compute,
    home,
    membership,
    operator,
    provider,
    regulator,
)
from trustspace.web.page import PORTAL, UPLOADS, OperatorParts, Portal, error_page

__all__ = ["DEFAULT_ASSETS", "PORTAL", "UPLOADS", "OperatorParts", "Portal", "error_page", "routes"]

DEFAULT_ASSETS = Path(__file__).resolve().parents[2] / "node_modules"
"""Where ``scripts/setup.sh`` installs the front-end packages (``npm install``)."""

PARTS = (home, buyer, compute, provider, operator, membership, assessor, regulator)
STATIC = Path(__file__).parent / "static"


def routes(portal: Portal) -> list[BaseRoute]:
    portal.nav = [item for part in PARTS for item in part.NAV]
    found: list[BaseRoute] = [r for part in PARTS for r in part.routes(portal)]
    found.append(Mount(f"{PORTAL}/static", app=StaticFiles(directory=STATIC), name="static"))
    return found
