"""A throwaway PostgreSQL server for the tests: ``initdb`` into a temp dir, start it on a free
loopback port (and a unix socket in that dir), hand out one fresh database per test, then stop
it and delete everything. Not part of the app.

initdb and postgres refuse to run as root, so under root (tests and CI) they run as the
``postgres`` system user through ``su``; otherwise as the current user.
``scripts/ensure-postgresql`` installs the server binaries when it can.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from testkit.app_server import free_port

PG_USER = "postgres"  # the system user that runs the server when we are root
ROLE = "chatlab"  # the superuser initdb creates (trust auth: no password)


def find_pg_bin() -> Path | None:
    """The directory holding initdb and pg_ctl: ``pg_config --bindir``, then
    /usr/lib/postgresql/*/bin newest version first, then PATH."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.strip()
            candidates.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    numeric = [v for v in versions if re.fullmatch(r"\d+(\.\d+)?", Path(v).parent.name)]
    numeric.sort(key=lambda v: [int(x) for x in Path(v).parent.name.split(".")], reverse=True)
    candidates += [Path(v) for v in numeric]
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    return None


def _is_root() -> bool:
    return os.geteuid() == 0


def postgres_available() -> bool:
    """True if a server can be started here: binaries found, and the postgres user exists
    when we are root."""
    if find_pg_bin() is None:
        return False
    if _is_root():
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return False
    return True


def _base_dir() -> str | None:
    """Where to make the temp dir: the usual place, unless we are root and the postgres user
    cannot get through one of its parents (say TMPDIR under /root); then /tmp."""
    if not _is_root():
        return None
    p = Path(tempfile.gettempdir()).resolve()
    if all(os.stat(d).st_mode & 0o001 for d in [p, *p.parents]):
        return None
    return "/tmp"


class PostgresServer:
    """``with PostgresServer() as pg: url = pg.create_database("t1")``.

    ``durable=False`` turns off fsync, synchronous_commit and full_page_writes (faster, but
    a machine crash loses data); the default keeps PostgreSQL's own durable settings.
    """

    def __init__(self, durable: bool = True, timeout_s: float = 60, *,
                 directory: Path | None = None, settings: dict[str, str] | None = None) -> None:
        self.durable = durable
        self.timeout_s = timeout_s
        # A kept directory (benchmarks): its cluster is reused when it exists, and stays.
        self.kept = directory
        self.settings = settings or {}
        self.bin: Path | None = None
        self.dir: Path | None = None
        self.port = 0

    @property
    def data_dir(self) -> Path:
        assert self.dir is not None, "not started"
        return self.dir / "db"

    @property
    def log_path(self) -> Path:
        assert self.dir is not None, "not started"
        return self.dir / "log"

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        assert self.port, "not started"
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{quote(name, safe='')}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a server binary, as the postgres user when we are root."""
        assert self.bin is not None and self.dir is not None
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if _is_root():
            cmd = ["su", PG_USER, "-s", "/bin/sh", "-c", shlex.join(cmd)]
        # cwd: the server's user may not be able to enter ours (/root).
        return subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True,
                              timeout=self.timeout_s + 30)

    def start(self) -> PostgresServer:
        import psycopg

        self.bin = find_pg_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL binaries not found: run scripts/ensure-postgresql")
        if self.kept is not None:
            self.kept.mkdir(parents=True, exist_ok=True)
            self.dir = self.kept
        else:
            self.dir = Path(tempfile.mkdtemp(prefix="chatlab-pg-", dir=_base_dir()))
        atexit.register(self.stop)
        try:
            if _is_root():
                pg = pwd.getpwnam(PG_USER)
                os.chown(self.dir, pg.pw_uid, pg.pw_gid)  # it creates db/ and log itself
            os.chmod(self.dir, 0o700)
            locale = (["--locale=C.UTF-8"] if os.path.isdir("/usr/lib/locale/C.utf8")
                      else ["--no-locale"])
            if not (self.data_dir / "PG_VERSION").exists():
                r = self._run("initdb", "-D", str(self.data_dir), "-A", "trust", "-U", ROLE,
                              "--encoding=UTF8", *locale, "--no-sync")
                if r.returncode:
                    raise RuntimeError(f"initdb failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
            self.port = free_port()
            settings = {"listen_addresses": "127.0.0.1", "max_connections": "200",
                        "shared_buffers": "128MB", **self.settings}
            if not self.durable:
                settings |= {"fsync": "off", "synchronous_commit": "off",
                             "full_page_writes": "off"}
            opts = ["-p", str(self.port), "-k", str(self.dir)]
            for k, v in settings.items():
                opts += ["-c", f"{k}={v}"]
            # pg_ctl hands -o to a shell, so it is quoted once more.
            r = self._run("pg_ctl", "-D", str(self.data_dir), "-o", shlex.join(opts),
                          "-l", str(self.log_path), "-w", "-t", str(int(self.timeout_s)),
                          "start")
            if r.returncode:
                raise RuntimeError(f"pg_ctl start failed:\n{r.stdout}{r.stderr}"
                                   f"\nlog:\n{self.log()[-2000:]}")
            deadline = time.monotonic() + self.timeout_s
            while True:
                try:
                    psycopg.connect(self.url, connect_timeout=5).close()
                    return self
                except psycopg.OperationalError as e:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"PostgreSQL did not accept connections: {e}"
                                           f"\nlog:\n{self.log()[-2000:]}") from e
                    time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` and return its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``pg_ctl stop -m mode``) and delete its directory. Idempotent."""
        atexit.unregister(self.stop)
        if self.dir is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")
        if self.kept is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        self.port = 0

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
