"""Make static/js/consent.min.js, the banner visitors download, from consent.js.

consent.js is the readable source kept in the repository; terser (from npm,
installed into a cache folder outside the checkout) shrinks it. The first line
of the output records the source's sha256, so a test can tell when the
minified file is older than the source.

    .venv/bin/python bench/minify.py          # rewrite consent.min.js
    .venv/bin/python bench/minify.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "static" / "js" / "consent.js"
TARGET = ROOT / "static" / "js" / "consent.min.js"
TERSER = "terser@5.51.4"
HEADER = "/*! consentmgr consent.js, minified from source sha256:{} */"


def source_digest() -> str:
    return hashlib.sha256(SOURCE.read_bytes()).hexdigest()


def recorded_digest() -> str | None:
    """The source digest written into consent.min.js when it was made."""
    try:
        first = TARGET.read_text(encoding="utf-8").split("\n", 1)[0]
    except FileNotFoundError:
        return None
    prefix, _, rest = first.partition("sha256:")
    return rest.split(" ", 1)[0] if prefix and rest else None


def npm_install(packages: list[str], folder: Path) -> Path:
    """Install npm packages into ``folder``, outside the checkout; return its node_modules."""
    if shutil.which("npm") is None:
        raise RuntimeError("npm is not installed (apt-get install npm)")
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--no-save"]
        + packages,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"npm install {' '.join(packages)} failed:\n{result.stderr}")
    return folder / "node_modules"


def minify() -> bytes:
    cache = Path(tempfile.gettempdir()) / f"consentmgr-{TERSER.replace('@', '-')}"
    modules = npm_install([TERSER], cache)
    result = subprocess.run(
        [
            "node",
            str(modules / "terser" / "bin" / "terser"),
            str(SOURCE),
            "--compress",
            "passes=2",
            "--mangle",
            "--ecma",
            "2022",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return HEADER.format(source_digest()).encode() + b"\n" + result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that it is up to date")
    args = parser.parse_args()
    if args.check:
        fresh = recorded_digest() == source_digest()
        print("consent.min.js is up to date" if fresh else "consent.min.js is out of date")
        return 0 if fresh else 1
    TARGET.write_bytes(minify())
    print(f"wrote {TARGET.relative_to(ROOT)} ({TARGET.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
