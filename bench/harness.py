"""Shared parts of the benchmarks: start gunicorn, drive it with load, print a table.

Load comes from wrk when it is installed (``apt-get install wrk``), otherwise
from a small multi-process Python load generator. Both send the same requests
to every server, so the figures compare side by side within one run.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@contextlib.contextmanager
def gunicorn(app: str, env: dict[str, str] | None = None, threads: int = 1) -> Iterator[str]:
    """Run a bare ``app`` under gunicorn, 2 workers: sync, or gthread with ``threads``."""
    worker = ["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []
    with _gunicorn(["--workers", "2", *worker, app], env) as base:
        yield base


@contextlib.contextmanager
def consentmgr(env: dict[str, str], **serve: int) -> Iterator[str]:
    """consentmgr under gunicorn with the command line ``consentmgr serve`` runs.

    ``serve`` changes its options (``threads=4``: threaded workers).
    """
    sys.path.insert(0, str(ROOT))
    from consentmgr.cli import gunicorn_args

    args = gunicorn_args("127.0.0.1:0", **serve)
    with _gunicorn(args[2:], env) as base:  # _gunicorn binds its own port
        yield base


@contextlib.contextmanager
def _gunicorn(args: list[str], env: dict[str, str] | None) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--log-level", "warning", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "bench"), **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    SERVERS[base] = proc.pid
    try:
        wait_ready(base + "/health")
        yield base
    finally:
        SERVERS.pop(base, None)
        proc.terminate()
        proc.wait(timeout=20)


@contextlib.contextmanager
def postgres() -> Iterator[Callable[[], str]]:
    """A throwaway PostgreSQL cluster on this machine with its durable defaults.

    Yields a function that makes a new empty database and returns its URL.
    Needs Debian's ``postgresql`` (``./dev test`` installs it).
    """
    sys.path.insert(0, str(ROOT / "tests"))
    from postgres_support import Cluster

    cluster = Cluster(durable=True).start()
    made = iter(range(1, 1000))
    try:
        yield lambda: cluster.create_database(f"bench{next(made)}")
    finally:
        cluster.destroy()


@contextlib.contextmanager
def consentmgr_instance(**config: object) -> Iterator[dict[str, str]]:
    """A throwaway instance folder with a config file; yields the env to use it."""
    with tempfile.TemporaryDirectory() as folder:
        lines = [f'SECRET_KEY = "{"b" * 48}"', 'SITE_ORIGINS = ["https://ansettr.no"]']
        lines += [f"{k} = {json.dumps(v)}" for k, v in config.items()]
        Path(folder, "config.toml").write_text("\n".join(lines) + "\n")
        yield {"CONSENTMGR_INSTANCE": folder}


def _python_load(url, method, body, headers, seconds, conns, queue):
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    count, errors, latencies = 0, 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.perf_counter()
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            conn.request(
                method, parts.path + (f"?{parts.query}" if parts.query else ""), body, headers
            )
            response = conn.getresponse()
            response.read()
            if response.status >= 400:
                errors += 1
        except OSError:
            errors += 1
        finally:
            conn.close()
        latencies.append(time.perf_counter() - start)
        count += 1
    queue.put((count, errors, latencies))


SERVERS: dict[str, int] = {}  # base URL -> gunicorn master's pid, while it runs
TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu(base: str) -> tuple[float, float]:
    """User and system CPU seconds used so far by the server at ``base`` (master and workers)."""
    master = SERVERS[base]
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    user = system = 0.0
    for pid in [master, *children]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a worker that just exited
            continue
        user, system = user + int(fields[11]) / TICKS, system + int(fields[12]) / TICKS
    return user, system


def load(
    url: str,
    method: str = "GET",
    body: str = "",
    headers: dict[str, str] | None = None,
    seconds: float = 5,
    connections: int = 8,
) -> dict[str, float]:
    """Drive ``url`` for ``seconds``; return req/s, errors, p50/p99 latency in ms and,
    for a server started here, its CPU per request in µs (user and system)."""
    base = "/".join(url.split("/", 3)[:3])
    before = server_cpu(base) if base in SERVERS else None
    result = _load(url, method, body, headers or {}, seconds, connections)
    if before is not None:
        after, requests = server_cpu(base), max(1.0, result["rps"] * seconds)
        result["user_us"] = (after[0] - before[0]) / requests * 1e6
        result["sys_us"] = (after[1] - before[1]) / requests * 1e6
    return result


def _load(url, method, body, headers, seconds, connections):
    if shutil.which("wrk"):
        return _wrk(url, method, body, headers, seconds, connections)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_python_load, args=(url, method, body, headers, seconds, 1, queue))
        for _ in range(connections)
    ]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(lat for r in results for lat in r[2])
    total = sum(r[0] for r in results)
    return {
        "rps": total / seconds,
        "errors": sum(r[1] for r in results),
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "tool": "python",
    }


WRK_SCRIPT = """
wrk.method = %(method)s
wrk.body = %(body)s
%(headers)s
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    "JSON {\\"requests\\": %%d, \\"errors\\": %%d, \\"p50\\": %%f, \\"p99\\": %%f}\\n",
    summary.requests, errors, latency:percentile(50), latency:percentile(99)))
end
"""


def _wrk(url, method, body, headers, seconds, connections):
    def lua(s: str) -> str:
        return json.dumps(s)

    script = WRK_SCRIPT % {
        "method": lua(method),
        "body": lua(body),
        "headers": "\n".join(f"wrk.headers[{lua(k)}] = {lua(v)}" for k, v in headers.items()),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t", "2", "-c", str(connections), "-d", f"{int(seconds)}s", "-s", f.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(f.name)
    data = json.loads(out.split("JSON ", 1)[1])
    return {
        "rps": data["requests"] / seconds,
        "errors": data["errors"],
        "p50_ms": data["p50"] / 1000,
        "p99_ms": data["p99"] / 1000,
        "tool": "wrk",
    }


def table(rows: list[tuple[str, dict[str, float]]]) -> str:
    """The rows, each with its req/s as a ratio to the best bare Flask row (named ``bare ...``)."""
    best = max(r["rps"] for name, r in rows if name.startswith("bare"))
    out = [
        f"{'server':<38} {'req/s':>8} {'x bare':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        f" {'CPU µs/req: user':>17} {'sys':>5}"
    ]
    for name, r in rows:
        out.append(
            f"{name:<38} {r['rps']:>8.0f} {r['rps'] / best:>7.3f}"
            f" {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['errors']:>7}"
            f" {r.get('user_us', 0):>17.0f} {r.get('sys_us', 0):>5.0f}"
        )
    return "\n".join(out)
