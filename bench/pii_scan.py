"""Profiling and personal-information scan throughput, and the memory it needs.

Writes a CSV of ``--size-mib`` with mixed columns: row ids, resident ID numbers, mobile numbers,
e-mail addresses, amounts, dates and free text.  Then, in the same run:
- profile: ``trustspace.products.profile.profile_file``. That is one pass: the SHA-256, type
  inference, KMV distinct counts, min/max, samples, every value pattern-checked and a sample of
  the candidates through the personal-information detectors.
- baseline: the same file read with the plain ``csv`` module, touching every value and doing
  nothing with it.

It prints MB/s for both, their ratio, and the peak RSS of this process.  Run it once at two
sizes to see that memory does not grow with the file.
Run: ``.venv/bin/python bench/pii_scan.py [--size-mib 256]``
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trustspace.products.profile import profile_file

W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(i: int) -> str:
    body = f"110101{1960 + i % 50}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W, strict=True)) % 11]


def write(path: Path, size: int) -> int:
    rows = 0
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "resident_id", "mobile", "email", "amount", "day", "note"])
        while f.tell() < size:
            for i in range(rows, rows + 10_000):
                w.writerow([i, resident_id(i), f"13{i % 10}{i % 100_000_000:08d}", f"user{i}@mail.example",
                            f"{i * 0.37:.2f}", f"2026-03-{1 + i % 28:02d}", "free text with words"])  # fmt: skip
            rows += 10_000
    return rows


def baseline(path: Path) -> int:
    n = 0
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            for value in row:
                n += len(value) > 0
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "people.csv"
        rows = write(path, args.size_mib << 20)
        size = path.stat().st_size
        start = time.perf_counter()
        baseline(path)
        base = time.perf_counter() - start
        start = time.perf_counter()
        profile = profile_file(path)
        took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mb = size / 1e6
    print(f"{mb:,.0f} MB, {rows:,} rows, 7 columns; found: {', '.join(profile['pii_kinds'])}")
    print(f"{'plain csv read (baseline)':<34} {mb / base:>8.1f} MB/s")
    print(f"{'profile + personal-info scan':<34} {mb / took:>8.1f} MB/s   ratio {base / took:.2f}")
    print(f"peak RSS of this process: {peak:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
