"""What a visitor downloads, gzip -9, next to published consent banners.

Measures /consent.js as the app serves it (code, styles and the policy texts
in three languages), plus the first-party tracker and pixel shim that run
after consent (/matomo.js, /fbq.js) when they exist. For comparison it
installs vanilla-cookieconsent and Klaro from npm into a temporary folder
(never into the checkout) and measures their published bundles; without npm
that comparison is skipped.

    .venv/bin/python bench/bundle_size.py
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from minify import npm_install

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from consentmgr import create_app  # noqa: E402

GOAL = 6 * 1024
# Published files a site includes to get a working banner. vanilla-cookieconsent's
# texts and settings come on top; Klaro's bundle includes its CSS and translations.
PUBLISHED = {
    "vanilla-cookieconsent": ["dist/cookieconsent.umd.js", "dist/cookieconsent.css"],
    "klaro": ["dist/klaro.js"],
}
PACKAGES = {"vanilla-cookieconsent": "vanilla-cookieconsent@3", "klaro": "klaro"}


def gz(data: bytes) -> int:
    return len(gzip.compress(data, 9))


def ours() -> dict[str, int]:
    """gzip -9 sizes of the scripts as the app serves them, fetched without compression."""
    with tempfile.TemporaryDirectory() as folder:
        database = str(Path(folder) / "bench.sqlite")
        app = create_app({"TESTING": True, "DATABASE": database, "DELIVER_IN_BACKGROUND": False})
        client = app.test_client()
        sizes = {}
        for name in ("consent.js", "matomo.js", "fbq.js"):
            response = client.get(f"/{name}")
            if response.status_code == 200:
                sizes[name] = gz(response.data)
            elif (ROOT / "static" / "js" / name).exists():
                sizes[name] = gz((ROOT / "static" / "js" / name).read_bytes())
        return sizes


def published() -> dict[str, int] | None:
    """gzip -9 sizes of the published bundles, or None when npm is missing or fails."""
    if shutil.which("npm") is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        try:
            modules = npm_install(list(PACKAGES.values()), Path(folder))
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            print(f"(npm install failed, comparison skipped: {e})")
            return None
        sizes = {}
        for label, files in PUBLISHED.items():
            sizes[label] = sum(gz((modules / label / f).read_bytes()) for f in files)
        return sizes


def main() -> None:
    sizes = ours()
    banner = sizes["consent.js"]
    total = sum(sizes.values())
    print("gzip -9 bytes")
    print(f"{'consentmgr consent.js (before a decision)':45} {banner:6}")
    for name, size in sizes.items():
        if name != "consent.js":
            print(f"{'  + ' + name + ' (after consent)':45} {size:6}")
    print(f"{'consentmgr everything':45} {total:6}  (goal {GOAL})")
    others = published()
    if others is None:
        print("npm not available: comparison with published banners skipped")
        return
    for label, size in others.items():
        print(f"{label:45} {size:6}")


if __name__ == "__main__":
    main()
