"""MET and CAT scenarios: version metadata and the catalog, the node as provider."""

from __future__ import annotations

import pytest

from tests.tck import harness as h
from tests.tck.counterparty import Scenario

SCENARIOS: dict[str, h.ScenarioFn] = {}
scenario = h.collector(SCENARIOS)


@scenario
def met_01_01(sc: Scenario) -> None:
    """MET:01-01: the well-known version endpoint lists 2025-1 with a path and a binding."""
    url = f"{sc.node.root}/.well-known/dspace-version"
    response = sc.http.get(url)
    metadata = sc.http.schemas.check_version(response.json(), f"GET {url}")
    versions = [v for v in metadata["protocolVersions"] if v.get("version") == "2025-1"]
    assert versions, f"no 2025-1 entry in {metadata}"
    for entry in versions:
        assert entry.get("path"), f"the 2025-1 entry has no path: {entry}"
        assert entry.get("binding"), f"the 2025-1 entry has no binding: {entry}"
    bases = {sc.node.root + v["path"] for v in versions} | {v["path"] for v in versions}
    assert sc.node.dsp in bases, f"no 2025-1 path leads to the DSP base {sc.node.dsp}: {versions}"


@scenario
def cat_01_01(sc: Scenario) -> None:
    """CAT:01-01: a CatalogRequestMessage returns a Catalog that holds the seeded dataset."""
    dataset_id = h.catalog_dataset(sc.name)
    response = sc.http.post(f"{sc.node.dsp}/catalog/request", h.catalog_request())
    catalog = sc.http.body(response, "Catalog")
    ids = [d.get("@id") for d in catalog.get("dataset", [])]
    assert dataset_id in ids, f"dataset {dataset_id} is not in the catalog: {ids}"


@scenario
def cat_01_02(sc: Scenario) -> None:
    """CAT:01-02: a dataset request returns that Dataset."""
    dataset_id = h.catalog_dataset(sc.name)
    response = sc.http.get(f"{sc.node.dsp}/catalog/datasets/{dataset_id}")
    dataset = sc.http.body(response, "Dataset")
    assert dataset.get("@id") == dataset_id, f"got dataset {dataset.get('@id')!r}"


@scenario
def cat_01_03(sc: Scenario) -> None:
    """CAT:01-03: a request for an unknown dataset returns a 4xx with a CatalogError."""
    dataset_id = h.catalog_dataset(sc.name)
    sc.http.get(
        f"{sc.node.dsp}/catalog/datasets/{dataset_id}", expect_error=True, error_type="CatalogError"
    )


@pytest.mark.parametrize("scenario", h.params(SCENARIOS))
def test_scenario(scenario: str, tck: Scenario) -> None:
    SCENARIOS[scenario](tck)
    tck.finish()
