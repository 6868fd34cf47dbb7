"""Replacing a file so that a crash leaves the old one or the new one, never half of either."""

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(written: Path, target: Path) -> None:
    """Put ``written`` (complete, beside ``target``) on disk, rename it over ``target`` and make
    the rename durable; a reader holding the old file keeps reading the old file."""
    with written.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(written, target)
    fsync_dir(target.parent)
