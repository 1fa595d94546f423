"""gunicorn serving consentmgr for real, for tests that crash, stop or restart it."""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from helpers import ACCEPT_ALL, ROOT, SITE
from serve_support import free_port

BIN = Path(sys.executable).parent
SECRET = "crash-test-secret-key-that-is-long-enough-0123"


class Server:
    """gunicorn serving consentmgr in a process group of its own, so it can be killed whole."""

    def __init__(self, env, log_path):
        self.port = free_port()
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 (closed in stop/kill)
        self.proc = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--log-level",
                "warning",
                "consentmgr:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def wait_ready(self):
        for _ in range(300):
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {self.proc.returncode}; see {self.log_path}"
                )
            try:
                status, _, _ = request(self.port, "GET", "/health")
            except OSError:
                time.sleep(0.1)
                continue
            if status == 200:
                return
        raise RuntimeError(f"gunicorn did not become ready; see {self.log_path}")

    def kill(self):
        """SIGKILL to master and workers at once: no handler, no cleanup, no flush."""
        os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)
        self.log.close()


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Set-Cookie"), response.read()
    finally:
        conn.close()


def consent_cookie(port):
    status, set_cookie, body = request(
        port,
        "POST",
        "/api/consent",
        json.dumps(ACCEPT_ALL),
        {"Origin": SITE, "Content-Type": "text/plain"},
    )
    assert status == 201, body
    cookie = SimpleCookie(set_cookie)["consent"]
    return f"consent={cookie.value}"


def hit_path(name):
    query = {"idsite": "1", "rec": "1", "action_name": name, "url": f"{SITE}/side/{name}"}
    return "/matomo.php?" + urlencode(query)


def consentmgr_cli(env, *args):
    result = subprocess.run(
        [str(BIN / "consentmgr"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
