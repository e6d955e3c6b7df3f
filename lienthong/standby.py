"""A streaming replica of an embedded cluster on loopback, for the replication test and the
replica benchmark: PostgreSQL's own `pg_basebackup -R` (base backup, then `standby.signal` and
`primary_conninfo` written for us), started with the same Debian binaries and the same
root/`postgres`-user handling as the embedded cluster itself.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lienthong import migrate
from lienthong.cluster import EmbeddedCluster, find_pg_bin
from lienthong.settings import EMBEDDED_SUPERUSER, Settings


class StandbyCluster(EmbeddedCluster):
    """`settings` gives this replica's home and port; `primary` is the cluster it streams from
    (its default pg_hba trusts replication connections from 127.0.0.1)."""

    def __init__(self, settings: Settings, *, primary: EmbeddedCluster) -> None:
        super().__init__(settings)
        self.primary = primary

    def init(self) -> None:
        self._prepare_root_dir()
        if self.initialized():
            return
        self._owned_dir(self.root_dir)
        self._owned_dir(self.socket_dir)
        self._run(
            [
                str(find_pg_bin() / "pg_basebackup"),
                "--pgdata", str(self.data_dir),
                "--host", "127.0.0.1",
                "--port", str(self.primary.port),
                "--username", EMBEDDED_SUPERUSER,
                "--write-recovery-conf",
                "--wal-method=stream",
                "--checkpoint=fast",
            ]
        )  # fmt: skip
        # The copied postgresql.conf names the primary's port and socket folder: later lines win.
        # hot_standby_feedback keeps the primary's vacuum from cancelling the replica's reads.
        overrides = {
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "hot_standby_feedback": "on",
        }
        lines = "".join(f"{key} = {value}\n" for key, value in overrides.items())
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as handle:
            handle.write("\n# Liên Thông streaming replica\n" + lines)


@contextmanager
def replicated_pair(
    home: Path, *, primary_port: int, replica_port: int
) -> Iterator[tuple[EmbeddedCluster, StandbyCluster]]:
    """A migrated primary and its streaming replica on 127.0.0.1, stopped and deleted on exit
    (their data directories live under `home`, or under /var/lib/lienthong when the postgres
    user cannot reach it; either way nothing is left behind)."""
    # database_url="" whatever the environment says: these are the two embedded servers
    primary = EmbeddedCluster(
        Settings(home=home / "primary", database_port=primary_port, database_url="")
    )
    replica = StandbyCluster(
        Settings(home=home / "replica", database_port=replica_port, database_url=""),
        primary=primary,
    )
    try:
        primary.up()
        migrate.upgrade(primary.settings)
        replica.up()
        yield primary, replica
    finally:
        for cluster in (replica, primary):
            if cluster.link.exists():
                cluster.down()
                shutil.rmtree(cluster.root_dir, ignore_errors=True)
                if cluster.link.is_symlink():  # the data lived under /var/lib/lienthong
                    cluster.link.unlink()
