"""The shipped nginx site, run by Debian's nginx in front of ``consentmgr serve``.

docs/deploy/nginx/consentmgr.conf is included unchanged by a wrapper
nginx.conf the test writes. What differs between machines the site file takes
from the three snippets it includes by relative path (from the folder of
nginx.conf, as on Debian): here the test writes them with free loopback ports,
a self-signed certificate it makes, and the port ``consentmgr serve`` got.

The client connects from its own loopback address (127.0.5.9), so the address
nginx forwards is told apart from the one gunicorn sees (nginx's, 127.0.0.1).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import pwd
import re
import socket
import ssl
import sys
import threading
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from helpers import ACCEPT_ALL, ROOT, SITE
from serve_support import (
    REQUEST_TIMEOUT,
    Served,
    clean_env,
    consentmgr_serve,
    free_port,
    request,
    write_config,
)

from consentmgr.db import connect

DEPLOY = ROOT / "docs" / "deploy"
SITE_FILE = DEPLOY / "nginx" / "consentmgr.conf"
NGINX = os.environ.get("NGINX_PATH", "/usr/sbin/nginx")
BIN = Path(sys.executable).parent
CLIENT = "127.0.5.9"  # the visitor, as nginx sees it
SPOOFED = "198.51.100.23"  # what the visitor claims to be
PUBLIC_URL = "https://consent.ansettr.no"
HSTS = "max-age=31536000"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and consent.ansettr.no, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "consent.ansettr.no")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("consent.ansettr.no"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class Deployment:
    """``consentmgr serve`` and nginx with the shipped site, both on free loopback ports."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.instance = folder / "instance"
        write_config(
            self.instance,
            PUBLIC_URL=PUBLIC_URL,
            SITE_ORIGINS=[SITE],
            TRUSTED_PROXIES=1,
            DELIVER_IN_BACKGROUND=False,
        )
        env = clean_env(CONSENTMGR_INSTANCE=str(self.instance))
        self.app = consentmgr_serve(BIN, folder / "serve.log", env, workers=2)
        try:
            self.nginx = self._start_nginx()
        except BaseException:
            self.app.stop()
            raise
        self.tls = ssl.create_default_context(cafile=str(self.cert))

    def _start_nginx(self) -> Served:
        conf = self.folder / "nginx"
        snippets = conf / "snippets"
        snippets.mkdir(parents=True)
        self.cert, key = self_signed(conf)
        self.https_port, self.http_port = free_port(), free_port()
        (snippets / "consentmgr-upstream.conf").write_text(f"server 127.0.0.1:{self.app.port};\n")
        (snippets / "consentmgr-https.conf").write_text(
            f"listen 127.0.0.1:{self.https_port} ssl;\n"
            f"ssl_certificate {self.cert};\nssl_certificate_key {key};\n"
        )
        (snippets / "consentmgr-http.conf").write_text(f"listen 127.0.0.1:{self.http_port};\n")
        temp = "\n".join(
            f"    {kind}_temp_path {conf / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = f"user {pwd.getpwuid(os.getuid()).pw_name};\n" if os.getuid() == 0 else ""
        self.access_log = conf / "access.log"
        (conf / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {conf / 'nginx.pid'};\n"
            f"error_log {conf / 'error.log'} info;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            f"    access_log {self.access_log};\n{temp}\n"
            f"    include {SITE_FILE};\n"
            "}\n"
        )
        args = [
            NGINX,
            "-p",
            str(conf),
            "-e",
            str(conf / "error.log"),
            "-c",
            str(conf / "nginx.conf"),
        ]
        return Served(args, self.https_port, self.folder / "nginx.out")

    def https(self, method, path, body=None, headers=None, source=CLIENT):
        return request(self.https_port, method, path, body, headers, tls=self.tls, source=source)

    def stop(self) -> None:
        try:
            self.nginx.stop()
        finally:
            self.app.stop()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    if not os.access(NGINX, os.X_OK):
        raise RuntimeError(f"{NGINX} is missing: ./dev test installs Debian's nginx")
    deployed = Deployment(tmp_path_factory.mktemp("deploy"))
    yield deployed
    deployed.stop()


def test_decision_through_nginx_gets_a_secure_cookie_hsts_and_the_forwarded_network(deployment):
    response = deployment.https(
        "POST",
        "/api/consent",
        json.dumps(ACCEPT_ALL),
        {"Origin": SITE, "Content-Type": "text/plain", "X-Forwarded-For": SPOOFED},
    )
    assert response.status == 201, response.text
    cookie = SimpleCookie(response.headers["Set-Cookie"])["consent"]
    assert cookie["secure"] is True
    assert response.headers.get_all("Strict-Transport-Security") == [HSTS]

    consent_id = json.loads(response.body)["id"]
    db = connect(deployment.instance / "consentmgr.sqlite")
    try:
        (row,) = db.execute(
            "select ip_prefix from decisions where consent_id = ?", [consent_id]
        ).fetchall()
    finally:
        db.close()
    # nginx's X-Forwarded-For, not gunicorn's peer (nginx itself), not what the client claimed.
    assert row[0] == "127.0.5.0/24"


def test_every_answer_through_nginx_has_hsts_once(deployment):
    for path in ("/health", "/consent.js", "/admin/login", "/nowhere", "/matomo.php?rec=1"):
        response = deployment.https("GET", path)
        assert response.headers.get_all("Strict-Transport-Security") == [HSTS], path
    health = deployment.https("GET", "/health")
    assert health.status == 200 and json.loads(health.body) == {"status": "ok", "database": "ok"}
    assert "needs HTTPS" not in deployment.https("GET", "/admin/login").text


def test_plain_http_redirects_to_https(deployment):
    response = request(deployment.http_port, "GET", "/personvern?x=1", source=CLIENT)
    assert response.status == 301
    assert response.headers["Location"] == "https://127.0.0.1/personvern?x=1"


def test_client_sent_forwarding_headers_are_replaced(deployment):
    """With TRUSTED_PROXIES = 1 the service believes one X-Forwarded-* value: nginx's.

    Were the client's Proto and Host believed, the service would take this https
    request for plain http from another host: a warning, and no sign-in form.
    """
    page = deployment.https(
        "GET",
        "/admin/login",
        headers={
            "X-Forwarded-For": SPOOFED,
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "http",
        },
    )
    assert page.status == 200
    assert "<form" in page.text and "needs HTTPS" not in page.text
    assert "COOKIE_SECURE" not in deployment.app.output()


def test_logs_hold_the_network_and_no_address(deployment):
    deployment.https(
        "GET", "/matomo.php?rec=1&uid=kari-4242", headers={"User-Agent": "KariBrowser/7"}
    )
    log = deployment.app.output()
    lines = [line for line in log.splitlines() if "HTTP/1." in line]
    assert lines and all(" 127.0.5.0/24 " in line for line in lines), lines
    for needle in (CLIENT, SPOOFED, "kari-4242", "KariBrowser"):
        assert needle not in log, needle
    assert not deployment.access_log.exists() or deployment.access_log.read_text() == ""


def dribble(port: int, tls: ssl.SSLContext, stop: threading.Event, started: threading.Barrier):
    """A client that sends its request headers a byte at a time, as slowly as nginx allows."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT)
    with tls.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: consent.ansettr.no\r\n")
        started.wait()
        while not stop.wait(0.5):
            try:
                conn.sendall(b"X")
            except OSError:
                return


def test_slow_clients_do_not_keep_others_from_an_answer(deployment):
    slow = 6  # three times gunicorn's workers
    stop = threading.Event()
    started = threading.Barrier(slow + 1)
    threads = [
        threading.Thread(
            target=dribble, args=(deployment.https_port, deployment.tls, stop, started)
        )
        for _ in range(slow)
    ]
    for thread in threads:
        thread.start()
    try:
        started.wait()
        for _ in range(3):
            response = deployment.https("GET", "/health")
            assert response.status == 200
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def test_shipped_snippets_hold_the_production_listeners_and_certificate():
    https = (DEPLOY / "nginx" / "snippets" / "consentmgr-https.conf").read_text()
    assert re.search(r"(?m)^listen 443 ssl", https)
    assert re.search(r"(?m)^ssl_certificate\s+/etc/letsencrypt/live/consent.ansettr.no/", https)
    assert re.search(r"(?m)^ssl_certificate_key\s+", https)
    upstream = (DEPLOY / "nginx" / "snippets" / "consentmgr-upstream.conf").read_text()
    unit = (DEPLOY / "systemd" / "consentmgr.service").read_text()
    bind = re.search(r"--bind (\S+)", unit).group(1)
    assert re.search(rf"(?m)^server {re.escape(bind)};", upstream)


def test_systemd_units_run_commands_that_exist_with_private_files():
    from click.testing import CliRunner

    from consentmgr import cli

    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert {u.name for u in units} >= {"consentmgr.service", "consentmgr-deliver.service"}
    for unit in units:
        text = unit.read_text()
        assert "Environment=CONSENTMGR_INSTANCE=/var/lib/consentmgr" in text, unit.name
        assert "UMask=0077" in text and "StateDirectoryMode=0700" in text, unit.name
        (start,) = re.findall(r"(?m)^ExecStart=.*$", text)
        words = (
            re.search(r"/opt/consentmgr/\.venv/bin/consentmgr ([^'\"]*)", start).group(1).split()
        )
        command, options = words[0], [w for w in words[1:] if w.startswith("--")]
        help_text = CliRunner().invoke(cli.main_group(), [command, "--help"]).output
        assert f"Usage: consentmgr {command}" in help_text, unit.name
        for option in options:
            assert option in help_text, f"{unit.name}: {option}"
