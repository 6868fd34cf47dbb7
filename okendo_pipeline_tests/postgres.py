"""A throwaway PostgreSQL cluster from the Debian package, on a loopback port.

initdb refuses to run as root, so as root the server runs as the ``postgres`` user (the way
pytest-postgresql's docs suggest); its files live in a world-traversable temp folder.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def pg_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None
    )
    if not found:
        raise RuntimeError(f"{name} not found: install the postgresql package (see .ci/run)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    root: Path
    port: int
    prefix: list[str]

    @property
    def url(self) -> str:
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; dagster-postgres ships psycopg2.
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.prefix, pg_bin("pg_ctl"), "-D", str(self.root / "data"), *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off"
        )
        self.ctl("-l", str(self.root / "server.log"), "-o", options, "-w", "start")

    def restart(self) -> None:
        self.ctl("-m", "fast", "-w", "stop")
        self.start()


@contextmanager
def postgres_cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="okendo-pg-"))
    root.chmod(0o777)
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    cluster = Cluster(root, free_port(), prefix)
    subprocess.run(
        [*prefix, pg_bin("initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust",
         "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            cluster.ctl("-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)
