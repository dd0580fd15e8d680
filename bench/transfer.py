"""Pull data plane throughput: trustspace vs nginx, on loopback.

Creates a file of random bytes (`--size-mib`, default 1024) in a temporary directory, serves it
with nginx (sendfile on, one worker) and with the trustspace data plane (uvicorn, one process,
bearer token checked on every request by hashing it and looking the digest up, as the node does
against its store), then downloads it `--runs` times (after one warm-up) from each with
`curl -o /dev/null` and with `trustspace.dataplane.client.download` (SHA-256 included, into a
temporary file on /dev/shm when that tmpfs exists, so the disk is not what gets measured).
Prints the median MB/s (10^6 bytes/s) per server and client, and the trustspace/nginx ratio.

`start_trustspace` is the one place that knows how the data plane is run; the standalone app
(`create_app`) stands in for the node until the node serves these routes itself.

Everything it starts is stopped before it exits. Needs `/usr/sbin/nginx` (`apt-get install -y
nginx`) and curl.

    python bench/transfer.py [--size-mib 1024] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from starlette.applications import Starlette  # noqa: E402

from trustspace.dataplane.client import download, sha256_file  # noqa: E402
from trustspace.dataplane.server import Denied, Grant, pull_routes  # noqa: E402

NGINX = Path("/usr/sbin/nginx")
NGINX_DIRECTIVES = "sendfile on; tcp_nopush on;"
SINK_DIRS = [Path("/dev/shm")]  # tmpfs when there is one: measure the client, not the disk
TRANSFER_ID = "urn:uuid:5b7f0c1e-bench-transfer"
ENV_FILE = "TRUSTSPACE_BENCH_FILE"
ENV_DIGEST = "TRUSTSPACE_BENCH_TOKEN_SHA256"


# --- the trustspace side ------------------------------------------------------------------------


def create_app() -> Starlette:
    """App factory for uvicorn: one grant, token known only by its SHA-256 (from the env)."""
    grant = Grant(Path(os.environ[ENV_FILE]), filename="data.bin")
    tokens = {bytes.fromhex(os.environ[ENV_DIGEST]): (TRANSFER_ID, grant)}

    def authorize(transfer_id: str, token: str) -> Grant:
        digest = hashlib.sha256(token.encode()).digest()
        entry = tokens.get(digest)
        if entry is None:
            raise Denied(401, "unknown token")
        if not hmac.compare_digest(entry[0].encode(), transfer_id.encode()):
            raise Denied(403, "token not valid for this transfer")
        return entry[1]

    return Starlette(routes=pull_routes(authorize))


@contextmanager
def start_trustspace(path: Path, token: str, port: int) -> Iterator[str]:
    """Run the data plane serving `path` to `token`; yields the transfer's URL."""
    env = os.environ | {
        ENV_FILE: str(path),
        ENV_DIGEST: hashlib.sha256(token.encode()).hexdigest(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    cmd = [
        sys.executable, "-m", "uvicorn", "--factory", "transfer:create_app",
        "--app-dir", str(Path(__file__).resolve().parent),
        "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    with _process(cmd, env=env, cwd=ROOT) as proc:
        _wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/data/{TRANSFER_ID}"


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
    token = os.urandom(32).hex()
    sink_dir = next((d for d in SINK_DIRS if os.access(d, os.W_OK)), None)
    results: dict[tuple[str, str], float] = {}
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
        servers: dict[str, Callable[[], AbstractContextManager[str]]] = {
            "nginx": lambda: start_nginx(www, work, _free_port(), args.nginx_directives),
            "trustspace": lambda: start_trustspace(data, token, _free_port()),
        }
        for server, start in servers.items():
            with start() as url:
                print(f"{server}: {url}", flush=True)
                clients: dict[str, Callable[[], None]] = {
                    "curl": partial(_curl, url, token, size),
                    "download()": partial(_client, url, token, size, sink, digest),
                }
                for name, fetch in clients.items():
                    results[server, name] = _measure(fetch, size, args.runs, args.warmup)
    _report(results, args.size_mib, args.runs)
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
