"""Pull data plane throughput: a trustspace node vs nginx, on loopback.

Creates a file of random bytes (`--size-mib`, default 1024), serves it with nginx (sendfile on,
one worker) and through a real trustspace transfer: a provider and a consumer node are started,
the file is published, a contract negotiated and a pull transfer started, so every download goes
through the provider's data plane with its per-transfer token checked against the store. Each
server is downloaded `--runs` times (after one warm-up) with `curl -o /dev/null` and with
`trustspace.dataplane.client.download` (SHA-256 included, into /dev/shm when that tmpfs exists,
so the disk is not what gets measured). Prints the median MB/s (10^6 bytes/s) per server and
client, the trustspace/nginx ratio, and the provider node's peak memory.

Everything it starts is stopped before it exits. Needs `/usr/sbin/nginx` (`apt-get install -y
nginx`) and curl.

    python bench/transfer.py [--size-mib 1024] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from trustspace.cli.localnode import DemoNode  # noqa: E402
from trustspace.dataplane.client import download, sha256_file  # noqa: E402

NGINX = Path("/usr/sbin/nginx")
NGINX_DIRECTIVES = "sendfile on; tcp_nopush on;"
SINK_DIRS = [Path("/dev/shm")]  # tmpfs when there is one: measure the client, not the disk


# --- the trustspace side ------------------------------------------------------------------------


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def start_trustspace(path: Path, workdir: Path) -> Iterator[tuple[str, str, int]]:
    """Run a provider and a consumer node, publish `path`, negotiate and start a pull transfer.

    Yields the data-plane URL, the transfer's token and the provider's pid: every download goes
    through the node's real data plane, which checks that token against its store each time.
    """
    provider, consumer = DemoNode("provider", workdir), DemoNode("consumer", workdir)
    try:
        provider.start([consumer.entry()])
        consumer.start([provider.entry()])
        provider.wait_ready()
        consumer.wait_ready()
        with provider.client() as p, consumer.client() as c:
            published = p.call("POST", "/api/datasets", {"path": str(path), "title": path.name})
            neg = c.call(
                "POST", "/api/negotiations", {"address": provider.dsp, "datasetId": published["id"]}
            )
            neg = c.wait(f"/api/negotiations/{neg['id']}", ["FINALIZED"])
            tp = c.call("POST", "/api/transfers", {"agreementId": neg["agreementId"]})
            tp = c.wait(f"/api/transfers/{tp['id']}", ["STARTED"])
        assert provider.proc is not None
        yield tp["endpoint"], tp["authorization"], provider.proc.pid
    finally:
        provider.stop()
        consumer.stop()


# --- the nginx side -----------------------------------------------------------------------------


@contextmanager
def start_nginx(www: Path, workdir: Path, port: int, directives: str) -> Iterator[str]:
    """Run nginx serving `www` with `directives` in its http block; yields the file's URL."""
    conf = workdir / "nginx.conf"
    temp = {name: workdir / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for directory in temp.values():
        directory.mkdir()
    conf.write_text(
        f"""daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    {directives}
    default_type application/octet-stream;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    server {{
        listen 127.0.0.1:{port};
        root {www};
    }}
}}
"""
    )
    cmd = [str(NGINX), "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(conf)]
    with _process(cmd) as proc:
        _wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/data.bin"


# --- plumbing -----------------------------------------------------------------------------------


@contextmanager
def _process(cmd: list[str], **kwargs: object) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, **kwargs)  # type: ignore[call-overload]
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def _make_file(path: Path, size: int) -> None:
    block = 16 << 20
    with path.open("wb") as out:
        left = size
        while left > 0:
            out.write(os.urandom(min(block, left)))
            left -= block


def _curl(url: str, token: str, size: int) -> None:
    out = subprocess.run(
        ["curl", "-s", "-f", "-o", "/dev/null", "-w", "%{size_download}",
         "-H", f"Authorization: Bearer {token}", url],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    if int(out.stdout) != size:
        raise RuntimeError(f"curl got {out.stdout} bytes, expected {size}")


def _client(url: str, token: str, size: int, sink: Path, digest: str) -> None:
    result = download(url, token, sink, retries=0)
    try:
        if result.size != size or result.sha256 != digest:
            raise RuntimeError("download() returned wrong bytes")
    finally:
        sink.unlink(missing_ok=True)


def _measure(fetch: Callable[[], None], size: int, runs: int, warmup: int) -> float:
    """Median MB/s over `runs` timed calls of `fetch`, after `warmup` untimed ones."""
    for _ in range(warmup):
        fetch()
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        fetch()
        rates.append(size / (time.perf_counter() - start) / 1e6)
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (default 1024)")
    parser.add_argument("--runs", type=int, default=5, help="timed downloads per cell (5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed downloads first (1)")
    parser.add_argument(
        "--nginx-directives",
        default=NGINX_DIRECTIVES,
        help=f"transfer directives for nginx's http block (default {NGINX_DIRECTIVES!r})",
    )
    args = parser.parse_args(argv)
    if not NGINX.exists():
        print(f"{NGINX} not found; install it with: apt-get install -y nginx", file=sys.stderr)
        return 2
    if shutil.which("curl") is None:
        print("curl not found; install it with: apt-get install -y curl", file=sys.stderr)
        return 2

    size = args.size_mib << 20
    sink_dir = next((d for d in SINK_DIRS if os.access(d, os.W_OK)), None)
    results: dict[tuple[str, str], float] = {}
    peak = float("nan")
    with (
        tempfile.TemporaryDirectory(prefix="trustspace-bench-") as tmp,
        tempfile.TemporaryDirectory(prefix="trustspace-bench-sink-", dir=sink_dir) as sink_tmp,
    ):
        work = Path(tmp)
        www = work / "www"
        www.mkdir()
        for directory in (work, www):  # nginx workers run as an unprivileged user
            directory.chmod(0o755)
        data = www / "data.bin"
        print(f"writing {args.size_mib} MiB of random bytes ...", flush=True)
        _make_file(data, size)
        data.chmod(0o644)
        digest = sha256_file(data)
        sink = Path(sink_tmp) / "download.bin"

        def measure(server: str, url: str, token: str) -> None:
            print(f"{server}: {url}", flush=True)
            clients: dict[str, Callable[[], None]] = {
                "curl": partial(_curl, url, token, size),
                "download()": partial(_client, url, token, size, sink, digest),
            }
            for name, fetch in clients.items():
                results[server, name] = _measure(fetch, size, args.runs, args.warmup)

        with start_nginx(www, work, _free_port(), args.nginx_directives) as url:
            measure("nginx", url, "unused")
        print("trustspace: publishing, negotiating, starting a transfer ...", flush=True)
        with start_trustspace(data, work / "nodes") as (url, token, pid):
            measure("trustspace", url, token)
            peak = peak_rss_mib(pid)
    _report(results, args.size_mib, args.runs)
    print(f"provider node peak RSS after {args.runs + args.warmup} x 2 downloads: {peak:.0f} MiB")
    return 0


def _report(results: dict[tuple[str, str], float], size_mib: int, runs: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{size_mib} MiB over loopback, median of {runs} runs (MB/s)")
    for column in ("client", "nginx", "trustspace", "trustspace/nginx"):
        table.add_column(column, justify="right" if column != "client" else "left")
    for client in ("curl", "download()"):
        ref, ours = results["nginx", client], results["trustspace", client]
        table.add_row(client, f"{ref:,.0f}", f"{ours:,.0f}", f"{ours / ref:.2f}")
    Console().print(table)


if __name__ == "__main__":
    raise SystemExit(main())
