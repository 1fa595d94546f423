"""The admin dashboard and CSV export over a large consent log.

Fills a fresh database with ``--rows`` decisions (default 10 million) over 90
days, with their daily aggregates and some gateway data (``realistic_data``),
then through Flask's test client, signed in as an admin:

* times ``GET /admin/`` for 90 days, 30 days, and 90 days filtered by
  language (median of ``--repeat`` runs each, after one warm-up);
* streams ``GET /admin/export.csv`` for the last ``--export-days`` days and
  reports its throughput, the growth of the process's peak RSS while
  streaming, and the peak of Python allocations (tracemalloc, a second run).

    .venv/bin/python bench/dashboard.py [--rows 10000000] [--repeat 7]

Goal: dashboard <= 300 ms at 10 M decisions; export memory flat.
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import realistic_data

from consentmgr import create_app
from consentmgr.admin import accounts as admins
from consentmgr.db import connect

PASSWORD = secrets.token_urlsafe(18)


def fill(path: Path, rows: int, days: int, chain: bool) -> None:
    app = create_app(config(path))
    db = connect(app.config["DATABASE"])
    plan = realistic_data.Plan(rows, days, datetime.now(UTC).date(), chain=chain)
    started = time.monotonic()
    realistic_data.fill_decisions(db, plan, progress=True)
    realistic_data.fill_gateway(db, plan, time.time())
    admins.create(db, "bench", PASSWORD, 12, datetime.now(UTC))
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = Path(app.config["DATABASE"]).stat().st_size
    print(
        f"filled {rows:,} decisions in {time.monotonic() - started:.0f} s, {size / 2**30:.2f} GiB"
    )


def config(path: Path) -> dict:
    return {
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "DATABASE": str(path),
        "COOKIE_SECURE": False,
        "DELIVER_IN_BACKGROUND": False,
    }


def signed_in_client(path: Path):
    client = create_app(config(path)).test_client()
    page = client.get("/admin/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    answer = client.post(
        "/admin/login", data={"csrf_token": token, "username": "bench", "password": PASSWORD}
    )
    assert answer.status_code == 302, answer.status_code
    return client


def time_get(client, url: str, repeat: int) -> list[float]:
    assert client.get(url).status_code == 200
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return times


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def stream(client, url: str) -> tuple[int, int, float]:
    """Download ``url`` chunk by chunk; return (bytes, rows, seconds)."""
    started = time.perf_counter()
    response = client.get(url, buffered=False)
    size = rows = 0
    for chunk in response.response:
        size += len(chunk)
        rows += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
    response.close()
    return size, rows - 1, time.perf_counter() - started


def export(client, days: int) -> dict:
    today = datetime.now(UTC).date()
    url = f"/admin/export.csv?from={today - timedelta(days=days - 1)}&to={today}"
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (VmHWM)
    before = _kib("VmRSS")
    size, rows, seconds = stream(client, url)
    rss_growth = _kib("VmHWM") - before
    tracemalloc.start()
    stream(client, url)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": rows,
        "MiB": size / 2**20,
        "seconds": seconds,
        "rss_growth_kib": rss_growth,
        "traced_peak_kib": peak / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--export-days", type=int, default=30)
    parser.add_argument("--chain", action="store_true", help="compute the real hash chain")
    parser.add_argument("--database", type=Path, help="reuse (or keep) this database file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="consentmgr-bench-") as tmp:
        path = args.database or Path(tmp) / "bench.sqlite"
        if not path.exists():
            fill(path, args.rows, args.days, args.chain)
        client = signed_in_client(path)
        print(f"\nGET /admin/ (ms, median of {args.repeat}; goal <= 300)")
        for label, url in (
            ("90 days", "/admin/?period=90"),
            ("30 days", "/admin/?period=30"),
            ("90 days, lang=en", "/admin/?period=90&lang=en"),
        ):
            t = time_get(client, url, args.repeat)
            print(
                f"  {label:<18} median {statistics.median(t):7.1f}"
                f"   min {min(t):7.1f}   max {max(t):7.1f}"
            )
        result = export(client, args.export_days)
        print(f"\nGET /admin/export.csv, last {args.export_days} days")
        print(f"  rows {result['rows']:,}, {result['MiB']:.0f} MiB in {result['seconds']:.1f} s")
        print(f"  ({result['rows'] / result['seconds']:,.0f} rows/s)")
        print(f"  peak RSS growth while streaming: {result['rss_growth_kib'] / 1024:.1f} MiB")
        print(f"  peak Python allocations (tracemalloc): {result['traced_peak_kib']:.0f} KiB")


if __name__ == "__main__":
    main()
