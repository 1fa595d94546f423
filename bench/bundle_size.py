"""What a visitor downloads, gzip -9, next to published consent banners.

Measures /consent.js as the app serves it by default: code, styles, the policy
texts in three languages, the fbq() shim and the loader of the first-party
Matomo tracker, which waits for consent in the same response; the tracker
itself (/matomo.js) is fetched only once analytics is granted. For comparison,
the parts as three downloads (/consent.js with ``BUNDLE_SCRIPTS = []``,
/matomo.js, /fbq.js). For comparison it
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
from consentmgr.web.scripts import without_provenance  # noqa: E402

EXTRA = ROOT / "static" / "js" / "matomo-extra.min.js"

GOAL = 6 * 1024
# Published files a site includes to get a working banner. vanilla-cookieconsent's
# texts and settings come on top; Klaro's bundle includes its CSS and translations.
PUBLISHED = {
    "vanilla-cookieconsent": ["dist/cookieconsent.umd.js", "dist/cookieconsent.css"],
    "klaro": ["dist/klaro.js"],
}
SEPARATE = ("matomo.js", "fbq.js")
PACKAGES = {"vanilla-cookieconsent": "vanilla-cookieconsent@3", "klaro": "klaro"}


def gz(data: bytes) -> int:
    return len(gzip.compress(data, 9))


def served(bundle: list[str]) -> dict[str, int]:
    """gzip -9 sizes of the scripts as the app serves them with ``BUNDLE_SCRIPTS = bundle``."""
    with tempfile.TemporaryDirectory() as folder:
        database = str(Path(folder) / "bench.sqlite")
        app = create_app(
            {
                "TESTING": True,
                "DATABASE": database,
                "DELIVER_IN_BACKGROUND": False,
                "BUNDLE_SCRIPTS": bundle,
            }
        )
        client = app.test_client()
        return {name: gz(client.get(f"/{name}").data) for name in ("consent.js", *SEPARATE)}


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
    bundled = served(["matomo", "fbq"])["consent.js"]
    extra = gz(without_provenance(EXTRA.read_text(encoding="utf-8")).encode())
    alone = served([])
    separate = sum(alone.values())
    print("gzip -9 bytes")
    row = "{:58} {:6}"
    print(row.format("consentmgr /consent.js: banner, Matomo loader, shim", bundled))
    print(row.format("  goal for the default /consent.js", GOAL))
    print(row.format("  + /matomo.js, fetched once analytics is granted", alone["matomo.js"]))
    print(row.format("  + /matomo-extra.js, on a first e-commerce/content call", extra))
    print(row.format("consentmgr, the same as three downloads:", separate))
    print(row.format("  /consent.js with BUNDLE_SCRIPTS = [] (banner only)", alone["consent.js"]))
    for name in SEPARATE:
        print(row.format(f"  + /{name} (loaded by a blocked script tag)", alone[name]))
    others = published()
    if others is None:
        print("npm not available: comparison with published banners skipped")
        return
    for label, size in others.items():
        print(row.format(label, size))


if __name__ == "__main__":
    main()
