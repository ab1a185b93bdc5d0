"""Start ``streamlit run app.py`` on a free loopback port, the way Streamlit's own e2e
tests do, and stop it again."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scripted_app_env(data: Path, scripts: dict[str, dict]) -> dict[str, str]:
    """The environment of an app with its own data dir and run store (``data/runs.sqlite3``)
    offering ``scripts`` as extra scripted models (written to ``data/scripts.json``)."""
    import json

    from chatlib.providers.scripted import SCRIPTS_ENV

    data.mkdir(parents=True, exist_ok=True)
    (data / "scripts.json").write_text(json.dumps(scripts))
    return {"CHATLAB_DATA_DIR": str(data), "CHATLAB_DB": str(data / "runs.sqlite3"),
            SCRIPTS_ENV: str(data / "scripts.json")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AppServer:
    def __init__(self, env: dict[str, str] | None = None, script: str = "app.py",
                 args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.args = args  # more `streamlit run` options (e.g. --secrets.files)
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.script = script
        self.proc: subprocess.Popen[bytes] | None = None
        data_dir = Path(self.env.get("CHATLAB_DATA_DIR", "/tmp"))
        self.log_path = data_dir / f"streamlit-{self.port}.log"

    def start(self, timeout_s: float = 180) -> AppServer:  # a hang guard: slow when loaded
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", self.script,
                "--server.headless", "true",
                "--server.address", "127.0.0.1",
                "--server.port", str(self.port),
                "--browser.gatherUsageStats", "false",
                "--server.fileWatcherType", "none",
                *self.args,
            ],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()  # the child has its own copy; ours would leak (a ResourceWarning)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as r:
                    if r.read().strip() == b"ok":
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"streamlit did not become healthy: {self.log_path.read_text()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def running_app(env: dict[str, str] | None = None) -> Iterator[AppServer]:
    server = AppServer(env).start()
    try:
        yield server
    finally:
        server.stop()
