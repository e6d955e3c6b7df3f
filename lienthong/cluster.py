"""The embedded development cluster: PostgreSQL 15 + PostGIS 3 from Debian under `.lienthong/`.

`initdb` and `postgres` refuse to run as root, so when we are root every server-side command runs as
Debian's `postgres` system user, and the data directory is owned by it. When that user cannot reach
the project folder (a checkout under /root, say), the cluster lives under /var/lib/lienthong and
`.lienthong/pg` is a symbolic link to it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from lienthong.settings import EMBEDDED_DATABASE, EMBEDDED_SUPERUSER, Settings

PG_MAJOR = 15
PG_BIN_CANDIDATES = (Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin"),)
POSTGIS_CONTROL = Path(f"/usr/share/postgresql/{PG_MAJOR}/extension/postgis.control")
SERVER_USER = "postgres"
FALLBACK_ROOT = Path("/var/lib/lienthong")

# Tuned for a 2-core, 24 GiB dev machine; durability settings stay at PostgreSQL's safe defaults.
SERVER_CONFIG = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "shared_buffers": "'512MB'",
    "work_mem": "'16MB'",
    "maintenance_work_mem": "'256MB'",
    "wal_level": "replica",
    "max_wal_senders": "10",
    "log_min_messages": "warning",
}


class ClusterError(RuntimeError):
    """The embedded cluster cannot be created, started or reached; the message says why."""


@dataclass(frozen=True)
class ClusterStatus:
    initialized: bool
    running: bool
    data_dir: Path
    port: int
    pid: int | None
    server_version: str | None


def _is_root() -> bool:
    return os.geteuid() == 0


def _runuser() -> str:
    """runuser lives in /usr/sbin, which a non-login root shell may not have on its PATH."""
    found = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")
    if found is None:
        raise ClusterError("runuser (util-linux) is needed to run PostgreSQL as root")
    return found


def find_pg_bin() -> Path:
    for candidate in PG_BIN_CANDIDATES:
        if (candidate / "postgres").exists():
            return candidate
    raise ClusterError(
        f"PostgreSQL {PG_MAJOR} server binaries not found. Install Debian's "
        f"postgresql-{PG_MAJOR} and postgresql-{PG_MAJOR}-postgis-3 (make install does this as "
        "root), or set LIENTHONG_DATABASE_URL to an existing PostgreSQL with PostGIS."
    )


class EmbeddedCluster:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.home
        self.port = settings.database_port
        self.link = self.home / "pg"

    @property
    def root_dir(self) -> Path:
        return self.link.resolve()

    @property
    def data_dir(self) -> Path:
        return self.root_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root_dir / "run"

    @property
    def log_file(self) -> Path:
        return self.root_dir / "server.log"

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [_runuser(), "-u", SERVER_USER, "--", *args] if _is_root() else args
        # cwd "/": the server user may not be allowed into the caller's working directory
        result = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, check=False, cwd="/"
        )
        if check and result.returncode != 0:
            raise ClusterError(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}"
            )
        return result

    def _server_user_can_write(self, path: Path) -> bool:
        probe = [_runuser(), "-u", SERVER_USER, "--", "test", "-w", str(path)]
        return subprocess.run(probe, check=False).returncode == 0  # noqa: S603

    def _prepare_root_dir(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if self.link.exists():
            return
        if not _is_root():
            self.link.mkdir()
            return
        self.link.mkdir()
        shutil.chown(self.link, SERVER_USER, SERVER_USER)
        if self._server_user_can_write(self.link):
            return
        # The postgres user cannot traverse the project path: keep the cluster where it can.
        self.link.rmdir()
        digest = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:12]
        target = FALLBACK_ROOT / digest
        target.mkdir(parents=True, exist_ok=True)
        shutil.chown(FALLBACK_ROOT, SERVER_USER, SERVER_USER)
        shutil.chown(target, SERVER_USER, SERVER_USER)
        self.link.symlink_to(target, target_is_directory=True)

    def _owned_dir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if _is_root():
            shutil.chown(path, SERVER_USER, SERVER_USER)

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        bin_dir = find_pg_bin()
        if not POSTGIS_CONTROL.exists():
            raise ClusterError(
                f"PostGIS is not installed: install Debian's postgresql-{PG_MAJOR}-postgis-3."
            )
        self._prepare_root_dir()
        if self.initialized():
            return  # a fresh checkout at a path used before finds its cluster kept aside
        self._owned_dir(self.root_dir)
        self._owned_dir(self.data_dir)
        self._owned_dir(self.socket_dir)
        self._run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                EMBEDDED_SUPERUSER,
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--locale-provider=icu",
                "--icu-locale=vi-VN",
                "--auth=trust",
                "--data-checksums",
            ]
        )
        config = dict(SERVER_CONFIG, port=str(self.port))
        config["unix_socket_directories"] = f"'{self.socket_dir}'"
        lines = "".join(f"{key} = {value}\n" for key, value in config.items())
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as handle:
            handle.write("\n# Liên Thông embedded cluster\n" + lines)

    def status(self) -> ClusterStatus:
        if not self.initialized():
            return ClusterStatus(False, False, self.data_dir, self.port, None, None)
        result = self._run(
            [str(find_pg_bin() / "pg_ctl"), "status", "-D", str(self.data_dir)], check=False
        )
        running = result.returncode == 0
        pid = None
        version = None
        if running:
            pid_file = (self.data_dir / "postmaster.pid").read_text(encoding="utf-8").split()
            pid = int(pid_file[0]) if pid_file else None
            with self.admin_connection() as conn:
                row = conn.execute("SHOW server_version").fetchone()
                version = str(row[0]) if row else None
        return ClusterStatus(True, running, self.data_dir, self.port, pid, version)

    def admin_connection(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=EMBEDDED_SUPERUSER,
            dbname=dbname,
            autocommit=True,
            connect_timeout=5,
        )

    def up(self) -> ClusterStatus:
        if not self.initialized():
            self.init()
        bin_dir = find_pg_bin()
        current = self._run(
            [str(bin_dir / "pg_ctl"), "status", "-D", str(self.data_dir)], check=False
        )
        if current.returncode != 0:
            self._run(
                [
                    str(bin_dir / "pg_ctl"),
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    "60",
                ]
            )
        self._wait_ready()
        self.ensure_database(EMBEDDED_DATABASE)
        return self.status()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.admin_connection():
                    return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"the cluster did not accept connections on 127.0.0.1:{self.port}: {error}"
                        f" (see {self.log_file})"
                    ) from error
                time.sleep(0.1)

    def ensure_database(self, name: str) -> None:
        with self.admin_connection() as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def down(self) -> bool:
        """Stop the cluster cleanly; returns False when it was not running."""
        if not self.initialized():
            return False
        bin_dir = find_pg_bin()
        current = self._run(
            [str(bin_dir / "pg_ctl"), "status", "-D", str(self.data_dir)], check=False
        )
        if current.returncode != 0:
            return False
        self._run([str(bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"])
        return True
