"""Erasure in the landing folder: each file holding an address is rewritten without its lines.

A line goes when the envelope belongs to an erased customer (its keying email, as the loader
keys it) or, for a line that is not an envelope at all (what the loader rejects), when its text
holds the address. Another customer's envelope that only mentions the address (a review body)
stays, with the address replaced, as the warehouse keeps it. Files are rewritten atomically: a
hidden file beside the original (which ``discover`` never lists), fsynced, renamed over it.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

from okendo_pipeline.lib.erasure.addresses import line_key, parse_line, redact
from okendo_pipeline.lib.files import replace_durably
from okendo_pipeline.lib.okendo.loader import LandingFile, _read_bytes, discover


@dataclass
class Rewritten:
    """One rewritten file: what the loader's manifest must now say of it."""

    rel: str
    path: Path
    lines: int  # lines left
    removed: int
    redacted: int
    keys: set[str]  # the erased keys it held


@dataclass
class LandingErasure:
    files_scanned: int = 0
    rewritten: list[Rewritten] = field(default_factory=list)

    @property
    def lines_removed(self) -> int:
        return sum(r.removed for r in self.rewritten)

    @property
    def lines_redacted(self) -> int:
        return sum(r.redacted for r in self.rewritten)

    @property
    def keys(self) -> set[str]:
        return set().union(*(r.keys for r in self.rewritten))


def keep_line(line: str, keys: set[str], pattern: re.Pattern[str]) -> tuple[str | None, str | None]:
    """The line as it stays (maybe redacted) or None when it goes, and the key it held."""
    envelope = parse_line(line)
    key = line_key(envelope)
    if key in keys:
        return None, key
    if not pattern.search(line):
        return line, None
    lowered = line.lower()
    key = next((k for k in sorted(keys) if k in lowered), None)
    if not isinstance(envelope, dict):
        return None, key  # a rejected line holding the address is that person's record
    return redact(line, pattern), key


def _holds(data: bytes, needles: list[bytes]) -> bool:
    lowered = data.lower()
    return any(n in lowered for n in needles)


def _write_atomically(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.erasing")
    temp.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    replace_durably(temp, path)


def erase_landing(
    landing: Path, keys: set[str], pattern: re.Pattern[str], known_files: set[str]
) -> LandingErasure:
    """Rewrite every file that holds one of ``keys``. A file is read when its bytes contain an
    address (case-insensitively) or the warehouse loaded the person's envelopes from it
    (``known_files``: an address written with JSON escapes is found that way)."""
    report = LandingErasure()
    if not landing.is_dir():
        return report
    needles = [k.encode() for k in keys]
    for f in discover(landing):
        report.files_scanned += 1
        data = _read_bytes(f.path)
        if f.rel not in known_files and not _holds(data, needles):
            continue
        rewritten = _rewrite(f, data, keys, pattern)
        if rewritten is not None:
            report.rewritten.append(rewritten)
    return report


def _rewrite(
    f: LandingFile, data: bytes, keys: set[str], pattern: re.Pattern[str]
) -> Rewritten | None:
    """Line by line, as bytes: lines that are not UTF-8 stay byte for byte unless they hold an
    address (the loader rejects them; a rejected line holding it is that person's)."""
    kept: list[bytes] = []
    found: set[str] = set()
    removed = redacted = 0
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    for raw in lines:
        try:
            line = raw.decode()
        except UnicodeDecodeError:
            hits = {k for k in keys if k.encode() in raw.lower()}
            found |= hits
            stays = None if hits else raw
        else:
            text, key = keep_line(line, keys, pattern) if line.strip() else (line, None)
            found |= {key} if key else set()
            stays = None if text is None else text.encode()
        if stays is None:
            removed += 1
        else:
            redacted += stays != raw
            kept.append(stays)
    if not removed and not redacted:
        return None
    _write_atomically(f.path, b"".join(line + b"\n" for line in kept))
    return Rewritten(f.rel, f.path, len(kept), removed, redacted, found)
