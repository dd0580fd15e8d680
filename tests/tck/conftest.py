"""Fixtures of the DSP TCK port: one node under test and one TCK endpoint per session.

The node runs as ``python -m trustspace serve --tck`` in its own process on a
free loopback port; the TCK's side (``counterparty.Counterparty``) runs in a
thread of the test process.  Every scenario gets a fresh ``Scenario``; when a
scenario fails, its report carries what the TCK endpoint saw and what the node
logged meanwhile.

``DATASPACETCK_DSP_DEFAULT_WAIT`` (seconds, default 5) sets how long each step
waits for the node; the TCK's id settings (``CN_01_01_DATASETID`` ...) may be
overridden through the environment, as with the TCK itself.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.tck import harness as h
from tests.tck.counterparty import Counterparty, Scenario
from trustspace.tck import data as tckdata

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tck: a scenario of the DSP TCK port (tests/tck)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.tck)


@pytest.fixture(scope="session")
def schemas() -> h.Schemas:
    if not h.SPEC_DIR.is_dir():
        pytest.skip(
            f"the DSP 2025-1 JSON Schemas are not at {h.SPEC_DIR} (../shared/spec is absent)"
        )
    return h.Schemas(h.SPEC_DIR)


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory, schemas: h.Schemas) -> Iterator[h.NodeProcess]:
    root = tmp_path_factory.mktemp("tck-node")
    process = h.NodeProcess(root / "data", root / "node.log")
    try:
        process.wait_ready()
    except RuntimeError as exc:
        process.stop()
        pytest.fail(
            f"{exc}\ncommand: {' '.join(process.command)}\n--- node log ---\n{process.log_text()}",
            pytrace=False,
        )
    yield process
    process.stop()


@pytest.fixture(scope="session")
def counterparty(schemas: h.Schemas) -> Iterator[Counterparty]:
    endpoint = Counterparty(schemas)
    endpoint.start()
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope="session")
def dsp_http(schemas: h.Schemas) -> Iterator[h.DspHttp]:
    client = h.DspHttp(schemas, tckdata.DEFAULT_AUTHORIZATION)
    yield client
    client.close()


@pytest.fixture
def tck(
    request: pytest.FixtureRequest,
    node: h.NodeProcess,
    counterparty: Counterparty,
    dsp_http: h.DspHttp,
) -> Scenario:
    callspec = getattr(request.node, "callspec", None)
    name = callspec.params.get("scenario", request.node.name) if callspec else request.node.name
    return Scenario(name, node, counterparty, dsp_http, h.default_wait())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        scenario = getattr(item, "funcargs", {}).get("tck")
        if isinstance(scenario, Scenario):
            report.sections.append(
                ("what the TCK endpoint saw", scenario.journal_text() or "  (nothing)")
            )
            alive = "" if scenario.node.alive() else " (the node has EXITED)"
            report.sections.append(
                (
                    f"node log during {scenario.name}{alive}",
                    scenario.node.log_text(scenario.log_start),
                )
            )
    return report
