"""gunicorn serving consentmgr for real, for tests that crash, stop or restart it."""

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from helpers import ACCEPT_ALL, ROOT, SITE
from serve_support import Served, free_port

from consentmgr.cli import gunicorn_args

BIN = Path(sys.executable).parent


class Server(Served):
    """gunicorn serving consentmgr as ``consentmgr serve`` does, in a process group of its own."""

    def __init__(self, env, log_path):
        port = free_port()
        args = [str(BIN / "gunicorn"), "--log-level", "warning"]
        args += gunicorn_args(f"127.0.0.1:{port}")
        super().__init__(args, port, log_path, env=env, cwd=ROOT)

    def kill(self):
        """SIGKILL to master and workers at once: no handler, no cleanup, no flush."""
        os.killpg(self.proc.pid, signal.SIGKILL)


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


CLIENT_THREADS = 8


def burst(ports, cookie, names, on_answer=lambda _: None):
    """Send every hit (the n-th to ports[n % len]) from several threads: name -> status.

    ``on_answer`` is called with the number of 2xx answers so far, after each one.
    """
    results = {}
    answered = 0
    lock = threading.Lock()
    pending = iter(enumerate(names))
    headers = {"Cookie": cookie, "User-Agent": "burst-test"}

    def client():
        nonlocal answered
        while True:
            with lock:
                n, name = next(pending, (None, None))
            if name is None:
                return
            try:
                port = ports[n % len(ports)]
                status, _, _ = request(port, "GET", hit_path(name), headers=headers)
            except (OSError, http.client.HTTPException):
                status = None
            with lock:
                results[name] = status
                if status is not None and 200 <= status < 300:
                    answered += 1
                    on_answer(answered)

    threads = [threading.Thread(target=client) for _ in range(CLIENT_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
