"""Make the scripts visitors download (static/js/*.min.js) from their readable sources.

consent.js (the banner), matomo.js (the tracker), matomo-extra.js (its rarer
parts), matomo-loader.js (what /consent.js carries to load the tracker) and
fbq.js (the pixel shim) are the
readable sources kept in the repository; terser (from npm, installed into a
cache folder outside the checkout) shrinks each to NAME.min.js. The
first line of each output records its source's sha256, so a test can tell
when a minified file is older than its source.

    .venv/bin/python bench/minify.py          # rewrite every *.min.js
    .venv/bin/python bench/minify.py --check  # exit 1 if any is out of date
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
JS = ROOT / "static" / "js"
SOURCES = [
    JS / "consent.js",
    JS / "matomo.js",
    JS / "matomo-extra.js",
    JS / "matomo-loader.js",
    JS / "fbq.js",
]
TERSER = "terser@5.51.4"
HEADER = "/*! consentmgr {}, minified from source sha256:{} */"


def target_of(source: Path) -> Path:
    return source.with_suffix(".min.js")


def source_digest(source: Path) -> str:
    return hashlib.sha256(source.read_bytes()).hexdigest()


def recorded_digest(source: Path) -> str | None:
    """The source digest written into the minified file when it was made."""
    try:
        first = target_of(source).read_text(encoding="utf-8").split("\n", 1)[0]
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


def minify(source: Path) -> bytes:
    cache = Path(tempfile.gettempdir()) / f"consentmgr-{TERSER.replace('@', '-')}"
    modules = npm_install([TERSER], cache)
    result = subprocess.run(
        [
            "node",
            str(modules / "terser" / "bin" / "terser"),
            str(source),
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
    header = HEADER.format(source.name, source_digest(source))
    return header.encode() + b"\n" + result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that it is up to date")
    args = parser.parse_args()
    stale = [s for s in SOURCES if recorded_digest(s) != source_digest(s)]
    if args.check:
        for source in SOURCES:
            state = "out of date" if source in stale else "up to date"
            print(f"{target_of(source).name} is {state}")
        return 1 if stale else 0
    for source in SOURCES:
        target = target_of(source)
        target.write_bytes(minify(source))
        print(f"wrote {target.relative_to(ROOT)} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
