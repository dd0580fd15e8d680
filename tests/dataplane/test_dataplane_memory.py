"""Memory stays flat: a 200 MiB download through the real server and client barely moves RSS.

Runs in a fresh interpreter so that the peak RSS (`ru_maxrss`, a high-water mark) is not already
raised by other tests. Server and client share that process, so both sides are covered.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SIZE = 200 << 20
LIMIT_KIB = 60 * 1024

PROBE = """
import resource, sys
from pathlib import Path

sys.path.insert(0, sys.argv[1])
from tests.dataplane.dataplane_harness import Harness
from trustspace.dataplane.client import download, sha256_file

work, size = Path(sys.argv[2]), int(sys.argv[3])
source = work / "sparse.bin"
with source.open("wb") as fh:
    fh.truncate(size)
warm = work / "warm.bin"
warm.write_bytes(b"w" * (3 << 20))

def peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

with Harness.running() as plane:
    download(plane.grant("warm", "w", warm), "warm", work / "warm.out")  # imports, pools, threads
    before = peak_kib()
    result = download(plane.grant("tok", "m", source), "tok", work / "out.bin")
    after = peak_kib()
assert result.size == size, result
assert result.sha256 == sha256_file(source), result
print(after - before)
"""


def test_two_hundred_mib_download_keeps_rss_flat(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(root), str(tmp_path), str(SIZE)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr
    growth_kib = int(run.stdout.strip().splitlines()[-1])
    assert growth_kib < LIMIT_KIB, (
        f"peak RSS grew by {growth_kib} KiB during a {SIZE} byte download"
    )
