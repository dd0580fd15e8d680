"""Profiling CSV, JSON Lines and Parquet in one pass, with flat memory."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.products.test_pii import rid
from trustspace.products.profile import profile_file


def _csv(path: Path, rows: int, distinct: int | None = None) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "resident_id", "email", "amount", "day", "flag", "note"])
        for i in range(rows):
            w.writerow([i if distinct is None else i % distinct,
                        rid(f"110101{1970 + i % 40}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"),
                        f"user{i}@mail.example", f"{i * 1.25:.2f}", f"2026-02-{1 + i % 28:02d}",
                        "true" if i % 2 else "false", "" if i % 10 == 0 else "text"])  # fmt: skip


def test_csv_profile(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    _csv(path, 2000, distinct=50)
    seen: list[tuple[int, int]] = []
    p = profile_file(path, on_progress=lambda done, total: seen.append((done, total)))
    assert p["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert p["rows"] == 2000 and p["format"] == "csv"
    cols = {c["name"]: c for c in p["columns"]}
    assert cols["id"]["type"] == "integer" and cols["id"]["distinct"] == 50
    assert (cols["id"]["min"], cols["id"]["max"]) == (0, 49)
    assert cols["amount"]["type"] == "float"
    assert cols["day"]["type"] == "date" and cols["day"]["max"] == "2026-02-28"
    assert cols["flag"]["type"] == "boolean" and cols["flag"]["distinct"] == 2
    assert cols["note"]["null_rate"] == 0.1
    assert set(cols["resident_id"]["pii"]["kinds"]) == {"cn_resident_id"}
    assert cols["resident_id"]["pii"]["kinds"]["cn_resident_id"]["rate"] == 1.0
    assert all("*" in s for s in cols["resident_id"]["samples"])
    assert cols["email"]["pii"]["kinds"]["email"]["examples"][0].startswith("u***@")
    assert p["pii_kinds"] == ["cn_resident_id", "email"] and p["sensitive"] is True
    assert seen and seen[-1] == (path.stat().st_size, path.stat().st_size)


def test_distinct_is_approximate_within_five_percent(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text("k\n" + "".join(f"key-{i}\n" for i in range(100_000)))
    (col,) = profile_file(path)["columns"]
    assert abs(col["distinct"] - 100_000) / 100_000 < 0.05


def test_jsonl_and_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    lines = tmp_path / "d.jsonl"
    lines.write_text("\n".join(json.dumps({"a": i, "b": "x" if i % 2 else None, **({"c": 1} if i > 5 else {})})
                               for i in range(10)) + "\n")  # fmt: skip
    p = profile_file(lines)
    cols = {c["name"]: c for c in p["columns"]}
    assert p["rows"] == 10 and cols["a"]["type"] == "integer"
    assert cols["b"]["nulls"] == 5 and cols["c"]["nulls"] == 6
    table = pa.table({"n": list(range(1000)), "mail": [f"m{i}@x.example" for i in range(1000)]})
    parquet = tmp_path / "d.parquet"
    pq.write_table(table, parquet, row_group_size=250)
    p = profile_file(parquet)
    assert p["rows"] == 1000 and p["sha256"] == hashlib.sha256(parquet.read_bytes()).hexdigest()
    assert p["pii_kinds"] == ["email"]


def test_bad_input_names_the_line(tmp_path: Path) -> None:
    ragged = tmp_path / "r.csv"
    ragged.write_text("a,b\n1,2\n3\n")
    with pytest.raises(ValueError, match="line 3: 1 fields, the header has 2"):
        profile_file(ragged)
    broken = tmp_path / "b.jsonl"
    broken.write_text('{"a": 1}\n{oops\n')
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        profile_file(broken)
    latin = tmp_path / "l.csv"
    latin.write_bytes("a\n\xe9t\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        profile_file(latin)
    with pytest.raises(ValueError, match="unknown format"):
        profile_file(tmp_path / "x.xlsx")


def _peak_rss(path: Path) -> int:
    """Peak resident memory of a fresh process profiling ``path`` (Arrow's buffers included)."""
    code = ("import resource, sys; from pathlib import Path;"
            " from trustspace.products.profile import profile_file;"
            " profile_file(Path(sys.argv[1]));"
            " print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         check=True, timeout=300)  # fmt: skip
    return int(out.stdout) * 1024


def _big_csv(path: Path, mib: int) -> None:
    with path.open("w") as f:
        f.write("id,resident_id,email,amount,note\n")
        i = 0
        while f.tell() < mib << 20:
            f.write("".join(f"{n},{rid(f'110101{1970 + n % 40}0101{n % 1000:03d}')},u{n}@mail.example,"
                            f"{n * 0.5:.1f},row {n % 97}\n" for n in range(i, i + 20_000)))  # fmt: skip
            i += 20_000


@pytest.mark.slow
def test_memory_stays_flat_as_the_file_grows(tmp_path: Path) -> None:
    small, large = tmp_path / "s.csv", tmp_path / "l.csv"
    _big_csv(small, 16)
    _big_csv(large, 96)  # six times the bytes
    small_peak, large_peak = _peak_rss(small), _peak_rss(large)
    assert large.stat().st_size > 5.5 * small.stat().st_size
    assert large_peak - small_peak < 48 << 20, (small_peak, large_peak)


def test_check_digits_on_a_sample_of_the_pattern_candidates(tmp_path: Path) -> None:
    """Every value is pattern-checked; check digits are verified on a sample of the candidates,
    and the hits are scaled from it.  A large enough sample makes the count exact."""
    path = tmp_path / "ids.csv"
    with path.open("w") as f:
        f.write("resident_id\n")
        for i in range(10_000):
            good = rid(f"110101{1970 + i % 40}0101{i % 1000:03d}")
            bad = good[:-1] + ("0" if good[-1] != "0" else "1")  # the right shape, wrong check
            f.write((good if i % 2 else bad) + "\n")
    exact = profile_file(path, validate=100_000)["columns"][0]["pii"]
    assert exact["candidates"] == exact["validated"] == 10_000
    assert exact["kinds"]["cn_resident_id"]["hits"] == 5_000
    sampled = profile_file(path, validate=40)["columns"][0]["pii"]
    assert sampled["candidates"] == 10_000 and sampled["validated"] < 10_000
    assert abs(sampled["kinds"]["cn_resident_id"]["rate"] - 0.5) < 0.1, sampled
