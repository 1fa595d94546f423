"""The wheel works on its own: built from the source, installed into a fresh virtualenv.

This is what a new user does (README, Deploy): ``pip wheel . -w dist``, a new
virtualenv outside the checkout, ``pip install dist/consentmgr-*.whl``, then
``consentmgr init`` and ``consentmgr serve`` in a folder of their own. The
templates, scripts, styles, policy and statement must come from the installed
package, never from a checkout, so the commands run with the checkout neither
current nor importable. The wheel is built once per session, from a copy of
the source (a ``build/`` left in the checkout by an earlier build could
otherwise smuggle in files that are no longer there).
"""

import configparser
import email
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from helpers import ROOT
from serve_support import clean_env, consentmgr_serve

PAGES = ("/consent.js", "/personvern", "/mine-data", "/admin/login", "/health", "/static/admin.css")
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "instance", ".*_cache"
)


def run(*args, cwd=None, env=None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def setup_cfg_version() -> str:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser["metadata"]["version"]


def shipped_files() -> set[str]:
    """What the package must carry: templates/ and static/, policy, statements, visitor texts."""
    files = {"consentmgr/consent/policy.json", "consentmgr/web/visitor_texts.json"}
    files |= {f"consentmgr/proof/personvernerklaering.{lang}.txt" for lang in ("nb", "nn", "en")}
    for folder, inside in (("templates", "_templates"), ("static", "_static")):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file():
                files.add(f"consentmgr/{inside}/{path.relative_to(ROOT / folder)}")
    return files


@pytest.fixture(scope="session")
def source(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("source") / "consentmgr"
    shutil.copytree(ROOT, copy, symlinks=True, ignore=NOT_SOURCE)
    return copy


@pytest.fixture(scope="session")
def wheel(source, tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", ".", "-w", dist, cwd=source)
    (built,) = dist.glob("consentmgr-*.whl")
    return built


@pytest.fixture(scope="session")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel and its dependencies; its bin folder."""
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "pip", "install", "--quiet", wheel, env=clean_env())
    return venv / "bin"


def test_wheel_carries_templates_scripts_styles_policy_and_statement(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not shipped_files() - names
    assert "consentmgr/_templates/admin/login.html" in names
    assert "consentmgr/_static/js/consent.min.js" in names
    assert not any("__pycache__" in n for n in names)


def test_wheel_pins_the_major_version_of_every_dependency(wheel):
    with zipfile.ZipFile(wheel) as z:
        (meta,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        requires = email.message_from_bytes(z.read(meta)).get_all("Requires-Dist")
    runtime = [r for r in requires if "extra ==" not in r]
    assert any(r.startswith("sqlite-utils") and "<5" in r and ">=4" in r for r in runtime)
    for requirement in runtime:
        assert re.search(r"<\d", requirement), f"{requirement} has no upper bound"


def test_sdist_carries_the_same_files(source, wheel, tmp_path):
    run(sys.executable, "-m", "build", "--sdist", "--outdir", tmp_path, ".", cwd=source)
    (sdist,) = tmp_path.glob("consentmgr-*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}
    assert not shipped_files() - members
    # A wheel built from the sdist alone (what pip does with it) carries the same files.
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", sdist, "-w", tmp_path / "w")
    (rebuilt,) = (tmp_path / "w").glob("consentmgr-*.whl")
    package = {n for n in zipfile.ZipFile(rebuilt).namelist() if n.startswith("consentmgr/")}
    assert package == {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("consentmgr/")}


def test_installed_version_is_the_one_in_setup_cfg(installed, tmp_path):
    out = run(installed / "consentmgr", "--version", cwd=tmp_path, env=clean_env())
    assert out.strip() == f"consentmgr {setup_cfg_version()}"


def test_installed_wheel_serves_every_page_outside_the_checkout(installed, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    env = clean_env()  # no CONSENTMGR_INSTANCE: the instance is ./instance in the current folder
    where = run(
        installed / "python", "-c", "import consentmgr; print(consentmgr.__file__)", cwd=site
    )
    assert Path(where.strip()).is_relative_to(installed.parent), where
    assert not Path(where.strip()).is_relative_to(ROOT)

    out = run(installed / "consentmgr", "init", cwd=site, env=env)
    config = site / "instance" / "config.toml"
    assert str(config) in out and config.exists()

    with consentmgr_serve(installed, tmp_path / "serve.log", env, cwd=site) as server:
        for path in PAGES:
            response = server.request("GET", path)
            assert response.status == 200, f"{path}: {response.status}\n{server.output()}"
        assert server.request("GET", "/demo").status == 404
        assert "<h1" in server.request("GET", "/personvern").text
    assert "Traceback" not in server.output()
    assert "DEMO" not in server.output()

    config.write_text(config.read_text().replace("DEMO = false", "DEMO = true"))
    with consentmgr_serve(installed, tmp_path / "demo.log", env, cwd=site) as server:
        assert server.request("GET", "/demo").status == 200
    assert f"warning: DEMO = true in {config}" in server.output()
