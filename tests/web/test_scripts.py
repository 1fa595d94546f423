"""The tracker and pixel shim as served: minified from the current source, cacheable."""

import gzip
import hashlib
import re

import pytest
from helpers import ROOT, make_config

from consentmgr import create_app

JS = ROOT / "static" / "js"


@pytest.mark.parametrize("name", ["matomo", "matomo-extra", "matomo-loader", "fbq"])
def test_minified_file_is_made_from_the_current_source(name):
    source = (JS / f"{name}.js").read_bytes()
    minified = (JS / f"{name}.min.js").read_text(encoding="utf-8")
    recorded = re.match(r"/\*! .*sha256:([0-9a-f]{64}) \*/\n", minified)
    assert recorded and recorded.group(1) == hashlib.sha256(source).hexdigest(), (
        f"static/js/{name}.js changed: run `.venv/bin/python bench/minify.py`"
    )


@pytest.mark.parametrize("path", ["/matomo.js", "/matomo-extra.js", "/fbq.js"])
def test_scripts_are_cacheable_and_compressed(client, path):
    plain = client.get(path)
    assert plain.status_code == 200 and plain.mimetype == "text/javascript"
    assert "must-revalidate" in plain.headers["Cache-Control"]
    etag = plain.headers["ETag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    zipped = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    minified = (JS / path.lstrip("/").replace(".js", ".min.js")).read_bytes()
    assert minified.startswith(b"/*! consentmgr")
    served = minified.split(b"\n", 1)[1]  # without the provenance line
    if path == "/fbq.js":  # with the pixel id, empty here as Meta is not configured
        served = served.replace(b"__PIXEL__", b"")
    assert plain.data == served


def test_the_shim_carries_the_configured_pixel_id(tmp_path):
    app = create_app(make_config(tmp_path, META_PIXEL_ID="123456789012345"))
    client = app.test_client()
    shim = client.get("/fbq.js").get_data(as_text=True)
    bundle = client.get("/consent.js").get_data(as_text=True)
    for script in (shim, bundle):
        assert '"123456789012345"' in script and "__PIXEL__" not in script
