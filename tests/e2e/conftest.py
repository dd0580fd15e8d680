"""End-to-end fixtures: real nodes in their own processes, real HTTP on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from trustspace.cli.localnode import DemoNode
from trustspace.trust.keys import NodeKey

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Space:
    provider: DemoNode
    consumer: DemoNode
    tester_key: NodeKey  # an extra trusted participant the tests speak as ("tester")
    root: Path

    def nodes(self) -> list[DemoNode]:
        return [self.provider, self.consumer]


def _entries(space_nodes: list[DemoNode], tester: NodeKey) -> list[dict[str, str]]:
    return [*(n.entry() for n in space_nodes), {"id": "tester", "public_key": tester.public_b64}]


@pytest.fixture
def pg_database() -> Iterator[Callable[[], str]]:
    created: list[str] = []

    def make() -> str:
        name = f"ts_e2e_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"postgresql://postgres@127.0.0.1:5432/{name}"

    yield make
    for name in created:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_space(
    root: Path,
    provider_env: dict[str, str] | None = None,
    consumer_env: dict[str, str] | None = None,
) -> Space:
    provider = DemoNode("provider", root, provider_env)
    consumer = DemoNode("consumer", root, consumer_env)
    tester = NodeKey.load_or_create(root / "tester.key")
    for node in (provider, consumer):
        node.start([e for e in _entries([provider, consumer], tester) if e["id"] != node.name])
    for node in (provider, consumer):
        node.wait_ready()
    return Space(provider, consumer, tester, root)


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Space]:
    s = make_space(tmp_path)
    yield s
    for node in s.nodes():
        node.stop()
    for node in s.nodes():  # shown by pytest only when the test fails
        print(f"--- {node.name} log ---\n{node.log_text()}")
