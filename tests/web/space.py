"""A whole data space for the portal's journeys, on real nodes over loopback.

The operator's node (``operator``, with a regulator key), a provider (``hospital``), a buyer
(``ai-lab``) and an assessor (``assessor``), each with its people:

==========  ============================================================
node        people (user name: roles), all with :data:`PASSWORD`
==========  ============================================================
operator    ``opadmin``: admin; ``reviewer``: reviewer; ``inspector``: regulator
hospital    ``steward``: provider; ``hadmin``: admin
ai-lab      ``buyer``: buyer
assessor    ``auditor``: assessor
==========  ============================================================

:func:`members` onboards the three members through the management API;
:func:`listed_product` publishes, assesses and lists a product the same way, so a journey can
start where its own part of the portal begins.  The journeys themselves use the browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_operator import DECLARATION, list_dataset, onboard
from tests.web.portal import PASSWORD, add_user
from trustspace.cli.localnode import DemoNode

__all__ = ["PASSWORD", "Space", "listed_product", "members", "space"]

REGULATOR_KEY = "regulator-secret"
PEOPLE = {
    "operator": (("opadmin", "admin"), ("reviewer", "reviewer"), ("inspector", "regulator")),
    "hospital": (("steward", "provider"), ("hadmin", "admin")),
    "ai-lab": (("buyer", "buyer"),),
    "assessor": (("auditor", "assessor"),),
}


@dataclass
class Space:
    operator: DemoNode
    provider: DemoNode
    buyer: DemoNode
    assessor: DemoNode
    root: Path
    onboarded: bool = False

    def nodes(self) -> tuple[DemoNode, ...]:
        return (self.operator, self.provider, self.buyer, self.assessor)


def start(root: Path) -> Space:
    operator = DemoNode("operator", root, {
        "TRUSTSPACE_ROLE": "operator", "TRUSTSPACE_CRAWL_INTERVAL": "0",
        "TRUSTSPACE_OPERATOR_REFRESH": "0.5", "TRUSTSPACE_REGULATOR_KEY": REGULATOR_KEY})  # fmt: skip
    env = {"TRUSTSPACE_OPERATORS": f"operator={operator.url}",
           "TRUSTSPACE_OPERATOR_REFRESH": "0.5"}  # fmt: skip
    s = Space(operator, DemoNode("hospital", root, env), DemoNode("ai-lab", root, env),
              DemoNode("assessor", root, env), root)  # fmt: skip
    for node in s.nodes():
        node.start([])
    for node in s.nodes():
        node.wait_ready()
        for username, *roles in PEOPLE[node.name]:
            add_user(node, username, *roles)
    return s


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Space]:
    s = start(tmp_path_factory.mktemp("space"))
    yield s
    for node in s.nodes():
        node.stop()
    for node in s.nodes():  # shown by pytest only when a test fails
        print(f"--- {node.name} log ---\n{node.log_text()}")


def members(s: Space) -> None:
    """Onboard hospital (provider), ai-lab (buyer) and assessor through the management API."""
    if s.onboarded:
        return
    onboard(s.operator, s.provider)
    onboard(s.operator, s.buyer, sector="research")
    onboard(s.operator, s.assessor, roles=["assessor"], sector="public")
    s.onboarded = True


def listed_product(s: Space, name: str, rows: int = 500, **extra: Any) -> dict[str, Any]:
    """A CSV product of the hospital, published, assessed and listed, and crawled into the
    federated catalog; the publish answer (``id``, ``sha256``, ``offerId`` …)."""
    members(s)
    path = s.root / f"{name}.csv"
    with path.open("w") as fh:
        fh.write("ward,age,visits\n")
        for i in range(rows):
            fh.write(f"w{i % 7},{20 + i % 60},{i % 9}\n")
    with s.provider.client() as p:
        item: dict[str, Any] = p.call("POST", "/api/datasets", {
            "path": str(path), "title": name, "declaration": DECLARATION,
            "keywords": ["visits"], **extra})  # fmt: skip
    list_dataset(s.operator, s.provider, s.assessor, item["id"])
    with s.operator.client() as o:
        o.call("POST", "/api/operator/crawl", {})
    return item
