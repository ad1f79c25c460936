"""A private, throwaway PostgreSQL cluster for tests that stop or restart the server.

The machine's shared PostgreSQL (the one `TEST_DATABASE_URL` names) must never be restarted by a
test: other test runs use it at the same time. `PrivatePostgres` makes a cluster of its own with
`initdb` in a temporary folder, runs it on a free port of 127.0.0.1 (trust authentication, its
socket in that folder too), and can stop, start and restart it for real (`pg_ctl`). As root, the
server binaries run as the `postgres` OS user (PostgreSQL refuses to run as root).

    with PrivatePostgres() as pg:       # or the `private_postgres` fixture
        pg.start()
        engine = create_async_engine(pg.url)
        ...
        pg.restart()                    # `pg_ctl restart -m fast`: every connection is cut

Every command has a time bound; `close()` stops the server (immediate mode) and removes the
folder.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
COMMAND_LIMIT_S = 60
OS_USER = "postgres"


def postgres_bin_dir() -> Path | None:
    """The newest `/usr/lib/postgresql/<version>/bin` that has initdb and pg_ctl, if any."""
    candidates: list[tuple[int, Path]] = []
    if PG_ROOT.is_dir():
        for entry in PG_ROOT.iterdir():
            bin_dir = entry / "bin"
            has_tools = (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists()
            if entry.name.isdigit() and has_tools:
                candidates.append((int(entry.name), bin_dir))
    if candidates:
        return max(candidates)[1]
    found = shutil.which("pg_ctl")
    if found and (Path(found).parent / "initdb").exists():
        return Path(found).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivatePostgres:
    """A PostgreSQL cluster of one's own: `start()`, `stop()`, `restart()`, `url`, `close()`."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or postgres_bin_dir()
        if found is None:
            raise RuntimeError(f"no PostgreSQL server binaries (initdb, pg_ctl) under {PG_ROOT}")
        self.bin_dir = found
        self.as_root = os.geteuid() == 0
        # Not under pytest's tmp_path: that folder is 0700 root, which the postgres user cannot
        # enter. A short path also keeps the Unix socket path under its 107-byte limit.
        self.root = Path(tempfile.mkdtemp(prefix="tgw-pg-"))
        self.root.chmod(0o755)
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.log_path = self.root / "server.log"
        self.port = _free_port()
        self._initialised = False

    # --- the public face ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the cluster's `postgres` database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Initialise the cluster (first time) and start the server; returns once it accepts
        connections. A lost race for the port is retried on another free port."""
        if not self._initialised:
            self._initdb()
        for attempt in range(3):
            result = self._pg_ctl("start", "-l", str(self.log_path), "-o", self._server_options())
            if result.returncode == 0:
                return
            if attempt < 2 and "could not bind" in self.log_tail():
                self.port = _free_port()
                continue
            raise RuntimeError(
                f"pg_ctl start failed ({result.returncode}): {result.stdout}{result.stderr}\n"
                f"{self.log_tail()}"
            )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: roll back and disconnect every session; `immediate`: abort)."""
        result = self._pg_ctl("stop", "-m", mode)
        if result.returncode != 0 and self.is_running():
            raise RuntimeError(f"pg_ctl stop failed: {result.stdout}{result.stderr}")

    def restart(self) -> None:
        """A real `pg_ctl restart -m fast`: every open connection is cut; returns once the
        server accepts connections again (same port, same data)."""
        result = self._pg_ctl(
            "restart", "-m", "fast", "-l", str(self.log_path), "-o", self._server_options()
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"pg_ctl restart failed: {result.stdout}{result.stderr}\n{self.log_tail()}"
            )

    def is_running(self) -> bool:
        if not self._initialised:
            return False
        return self._pg_ctl("status").returncode == 0

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def close(self) -> None:
        """Stop the server if it runs (immediate: nothing to keep) and delete the folder."""
        try:
            if self._initialised and self.is_running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the machinery -----------------------------------------------------------------------

    def _server_options(self) -> str:
        # A throwaway cluster: no fsync (a crash of the machine may lose it; nobody cares).
        return (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )

    def _initdb(self) -> None:
        for folder in (self.data_dir, self.socket_dir):
            folder.mkdir(mode=0o700)
        if self.as_root:
            user = pwd.getpwnam(OS_USER)
            for path in (self.data_dir, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
            self.log_path.touch()
            os.chown(self.log_path, user.pw_uid, user.pw_gid)
        result = self._run(
            self.bin_dir / "initdb",
            "-D", str(self.data_dir), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stdout}{result.stderr}")
        self._initialised = True

    def _pg_ctl(self, action: str, *args: str) -> subprocess.CompletedProcess[str]:
        wait = ["-w", "-t", str(COMMAND_LIMIT_S - 5)] if action != "status" else []
        return self._run(self.bin_dir / "pg_ctl", action, "-D", str(self.data_dir), *wait, *args)

    def _run(self, program: Path, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(program), *args]
        if self.as_root:
            command = ["runuser", "-u", OS_USER, "--", *command]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=COMMAND_LIMIT_S,
            stdin=subprocess.DEVNULL,
            cwd=self.root,
            check=False,
        )


def _os_user_exists() -> bool:
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        return False
    return True


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private PostgreSQL cluster, stopped and removed after the test. Skips the test
    when the server binaries are not installed (or, as root, there is no `postgres` OS user)."""
    if postgres_bin_dir() is None:
        pytest.skip(f"PostgreSQL server binaries (initdb, pg_ctl) not found under {PG_ROOT}")
    if os.geteuid() == 0 and not _os_user_exists():
        pytest.skip(f"running as root and there is no {OS_USER!r} OS user to run PostgreSQL as")
    with PrivatePostgres() as pg:
        pg.start()
        yield pg
