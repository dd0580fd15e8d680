"""Product versions: several files per version, the version hash, the chain of versions.

Real nodes over loopback: the provider publishes a two-file version, the consumer negotiates,
transfers and downloads the whole version into a folder; every file and the version hash are
checked against hashes computed here, independently of the node (``sha256sum`` lines sorted by
name, then hashed).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Space
from tests.e2e.flow import negotiate, publish, start_transfer
from tests.e2e.test_listing import cli
from trustspace.cli.demo import DemoNode
from trustspace.core.fileset import FILESET_MEDIA_TYPE
from trustspace.dataplane.client import DownloadError
from trustspace.dataplane.fileset import download_version, fetch_manifest
from trustspace.services.catalog import FILES_KEY

DCAT = "http://www.w3.org/ns/dcat#"
TWO_USES = {"permission": [{"action": "use", "constraint": [
    {"leftOperand": "count", "operator": "lteq", "rightOperand": 2}]}]}  # fmt: skip


def _files(tmp_path: Path) -> tuple[Path, Path]:
    people = tmp_path / "people.csv"
    people.write_text("id,region\n" + "".join(f"{i},R{i % 3}\n" for i in range(500)))
    orders = tmp_path / "orders.csv"
    orders.write_text("person_id,amount\n" + "".join(f"{i % 500},{i}\n" for i in range(2000)))
    return people, orders


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _version_hash(*paths: Path) -> str:
    lines = "".join(f"{_sha(p)}  {p.name}\n" for p in sorted(paths, key=lambda p: p.name))
    return hashlib.sha256(lines.encode()).hexdigest()


def _publish_many(provider: DemoNode, paths: list[Path], **extra: object) -> dict[str, object]:
    with provider.client() as p:
        out: dict[str, object] = p.call(
            "POST", "/api/datasets", {"paths": [str(x) for x in paths], "title": "people", **extra}
        )
    return out


def test_a_version_of_two_files_is_delivered_whole(space: Space, tmp_path: Path) -> None:
    people, orders = _files(tmp_path)
    published = _publish_many(space.provider, [people, orders], policy=TWO_USES)
    assert published["sha256"] == _version_hash(people, orders)

    with space.consumer.client() as c:
        catalog = c.call("POST", "/api/catalog", {"address": space.provider.dsp})
    (entry,) = [d for d in catalog["dataset"] if d["@id"] == published["id"]]
    listed = {f["name"]: f["checksum"]["checksumValue"] for f in entry[FILES_KEY]}
    assert listed == {"people.csv": _sha(people), "orders.csv": _sha(orders)}
    assert entry["checksum"]["checksumValue"] == _version_hash(people, orders)

    neg = negotiate(space.consumer, space.provider, str(published["id"]))
    tp, later = (start_transfer(space.consumer, neg["agreementId"]) for _ in range(2))
    manifest = fetch_manifest(tp["endpoint"], tp["authorization"])
    assert manifest is not None and manifest["versionHash"] == published["sha256"]
    result = download_version(tp["endpoint"], tp["authorization"], tmp_path / "got", manifest)
    assert result.version_hash == published["sha256"]
    assert (tmp_path / "got" / "people.csv").read_bytes() == people.read_bytes()
    assert (tmp_path / "got" / "orders.csv").read_bytes() == orders.read_bytes()

    bearer = {"Authorization": f"Bearer {tp['authorization']}"}
    with httpx.Client() as http:
        root = http.get(tp["endpoint"], headers=bearer)
        assert root.headers["content-type"] == FILESET_MEDIA_TYPE
        missing = http.get(f"{tp['endpoint']}/secrets.csv", headers=bearer)
        assert missing.status_code == 404 and "no file secrets.csv" in missing.json()["error"]
        outside = http.get(f"{tp['endpoint']}/..%2F..%2Fsettings.toml", headers=bearer)
        assert outside.status_code == 404
        stranger = http.get(f"{tp['endpoint']}/people.csv", headers={"Authorization": "Bearer x"})
        assert stranger.status_code == 401

    # One transfer is one use however many files it reads: the second transfer of an agreement
    # allowing two uses still gets the whole version.
    again = download_version(later["endpoint"], later["authorization"], tmp_path / "again",
                             manifest)  # fmt: skip
    assert again.version_hash == published["sha256"]


def test_a_single_file_version_has_no_per_file_address(space: Space, tmp_path: Path) -> None:
    people, _ = _files(tmp_path)
    published = publish(space.provider, people)
    neg = negotiate(space.consumer, space.provider, str(published["id"]))
    tp = start_transfer(space.consumer, neg["agreementId"])
    assert fetch_manifest(tp["endpoint"], tp["authorization"]) is None
    with httpx.Client() as http:
        per_file = http.get(f"{tp['endpoint']}/people.csv",
                            headers={"Authorization": f"Bearer {tp['authorization']}"})  # fmt: skip
        posted = http.post(tp["endpoint"], content=b"{}",
                           headers={"Authorization": f"Bearer {tp['authorization']}"})  # fmt: skip
    assert per_file.status_code == 404
    assert posted.status_code == 405 and posted.json() == {"error": "files are read with GET"}


def test_versions_chain_and_only_the_newest_is_followed(space: Space, tmp_path: Path) -> None:
    people, orders = _files(tmp_path)
    first = publish(space.provider, people, version="2026-11")
    second = publish(space.provider, orders, version="2026-12", previousVersion=first["id"])
    assert second["product"] == first["id"]
    with space.consumer.client() as c:
        catalog = c.call("POST", "/api/catalog", {"address": space.provider.dsp})
    (entry,) = [d for d in catalog["dataset"] if d["@id"] == second["id"]]
    assert entry[DCAT + "isVersionOf"] == first["id"]
    assert entry[DCAT + "previousVersion"] == first["id"]
    assert entry[DCAT + "version"] == "2026-12"

    with space.provider.client() as p:
        before = p.call("GET", "/api/datasets")
        with pytest.raises(Exception, match="not the newest version"):
            p.call("POST", "/api/datasets", {"path": str(people), "title": "fork",
                                             "previousVersion": first["id"]})  # fmt: skip
        with pytest.raises(Exception, match="no dataset nope"):
            p.call("POST", "/api/datasets", {"path": str(people), "title": "x",
                                             "previousVersion": "nope"})  # fmt: skip
        assert p.call("GET", "/api/datasets") == before  # refused: nothing written


def test_bad_file_sets_are_refused_and_change_nothing(space: Space, tmp_path: Path) -> None:
    people, _ = _files(tmp_path)
    twin = tmp_path / "other"
    twin.mkdir()
    (twin / "people.csv").write_text("id\n1\n")
    clash = tmp_path / "people.json"
    clash.write_text("{}\n")
    with space.provider.client() as p:
        before = p.call("GET", "/api/datasets")
        for paths, reason in (
            ([people, twin / "people.csv"], "same name"),
            ([people, clash], "same table"),
            ([people, tmp_path / "absent.csv"], "not a readable file"),
        ):
            with pytest.raises(Exception, match=reason):
                _publish_many(space.provider, paths)
        with pytest.raises(Exception, match="not both"):
            p.call("POST", "/api/datasets", {"path": str(people), "paths": [str(people)]})
        assert p.call("GET", "/api/datasets") == before


def test_the_client_refuses_a_manifest_that_names_a_folder(tmp_path: Path) -> None:
    manifest = {"versionHash": "x", "files": [{"name": "../escape.csv", "sha256": "0" * 64}]}
    with pytest.raises(DownloadError, match="refusing the manifest"):
        download_version("http://127.0.0.1:9/data/t", "token", tmp_path / "out", manifest)
    assert not (tmp_path / "escape.csv").exists() and not (tmp_path / "out").exists()


def test_product_add_profiles_every_file_of_a_version(space: Space, tmp_path: Path) -> None:
    people, orders = _files(tmp_path)
    with people.open("a") as f:
        f.write("501,someone@mail.example\n")
    added = cli(space.provider, "product", "add", str(people), str(orders), "--title", "shop")
    assert added.returncode == 0, added.stdout + added.stderr
    assert "2,501 rows, 4 columns" in added.stderr and "personal information: email" in added.stderr
    out = json.loads(added.stdout[added.stdout.index("{") :])
    assert out["sha256"] == _version_hash(people, orders)
    assert sorted(f["name"] for f in out["files"]) == ["orders.csv", "people.csv"]
    clash = cli(space.provider, "product", "add", str(people), str(people))
    assert clash.returncode != 0 and "same name" in clash.stdout + clash.stderr


def test_download_command_fetches_a_version_into_a_folder(space: Space, tmp_path: Path) -> None:
    people, orders = _files(tmp_path)
    published = _publish_many(space.provider, [people, orders])
    neg = negotiate(space.consumer, space.provider, str(published["id"]))
    tp = start_transfer(space.consumer, neg["agreementId"])
    taken = tmp_path / "taken.csv"
    taken.write_text("x\n")
    wrong = cli(space.consumer, "download", tp["id"], "-o", str(taken))
    assert wrong.returncode != 0 and "version of 2 files: give a folder" in wrong.stdout
    got = cli(space.consumer, "download", tp["id"], "-o", str(tmp_path / "got"),
              "--sha256", str(published["sha256"]))  # fmt: skip
    assert got.returncode == 0, got.stdout + got.stderr
    assert "2 files" in got.stdout and str(published["sha256"]) in got.stdout
    assert (tmp_path / "got" / "orders.csv").read_bytes() == orders.read_bytes()
