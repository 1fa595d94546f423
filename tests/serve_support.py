"""Running consentmgr as it is deployed: real processes on free loopback ports.

``Served`` starts a command (``consentmgr serve``, nginx, ``./dev run``) in a
process group of its own, with its output in a file, and waits until its port
answers. Nothing is timed: the wait ends when the port answers or the process
exits, and every request has a timeout only so that a hang fails instead of
blocking the suite.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

REQUEST_TIMEOUT = 30
SECRET = "deploy-test-secret-key-that-is-long-enough-0123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the test run's instance settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTMGR_")}
    env.pop("PYTHONPATH", None)
    return {**env, **extra}


def write_config(folder: Path, **settings: object) -> Path:
    """An instance folder with a config.toml of ``settings`` (TOML written by hand)."""

    def toml(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return "[" + ", ".join(toml(v) for v in value) + "]"
        if isinstance(value, str):
            return '"' + value + '"'
        return str(value)

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    settings = {"SECRET_KEY": SECRET, **settings}
    path.write_text("".join(f"{k} = {toml(v)}\n" for k, v in settings.items()))
    return path


class Served:
    """A server process in its own process group; ``stop()`` ends the whole group."""

    def __init__(
        self,
        args: list[str],
        port: int,
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.port = port
        self.log_path = log
        self.tls = tls
        self._log = open(log, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.proc.args[0]} exited with {self.proc.returncode}:\n{self.output()}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def request(
        self, method: str, path: str, body: bytes | str | None = None, **kwargs
    ) -> http.client.HTTPResponse:
        return request(self.port, method, path, body, tls=self.tls, **kwargs)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(REQUEST_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> Served:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.stop()
        if kind is not None:
            # Shown by pytest with the failure: what the server said.
            print(f"--- output of {self.proc.args[0]} ---\n{self.output()}")


class Response:
    """What the tests look at in an answer: status, headers (all of them) and body."""

    def __init__(self, r: http.client.HTTPResponse) -> None:
        self.status = r.status
        self.headers = r.headers
        self.body = r.read()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
    source: str | None = None,
) -> Response:
    """One request on a new connection; ``source`` picks the client's loopback address."""
    source_address = (source, 0) if source else None
    if tls is None:
        conn = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=REQUEST_TIMEOUT, source_address=source_address
        )
    else:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=REQUEST_TIMEOUT, source_address=source_address, context=tls
        )
    try:
        conn.request(method, path, body, headers or {})
        return Response(conn.getresponse())
    finally:
        conn.close()


def consentmgr_serve(
    bin_dir: Path, log: Path, env: dict[str, str], cwd: Path | None = None, workers: int = 2
) -> Served:
    """``consentmgr serve`` from ``bin_dir`` on a free port, as the systemd unit runs it."""
    port = free_port()
    args = [str(bin_dir / "consentmgr"), "serve", "--bind", f"127.0.0.1:{port}"]
    return Served([*args, "--workers", str(workers)], port, log, env=env, cwd=cwd)
