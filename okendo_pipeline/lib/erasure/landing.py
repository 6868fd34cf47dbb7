"""Erasure in the landing folder: each file holding an address is rewritten without its lines.

A line goes when the envelope belongs to an erased customer (its keying email, as the loader
keys it) or, for a line that is not an envelope at all (what the loader rejects), when its text
holds the address. Another customer's envelope that only mentions the address (a review body)
stays, with the address replaced, as the warehouse keeps it. Files are rewritten atomically: a
hidden file beside the original (which ``discover`` never lists), fsynced, renamed over it.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from okendo_pipeline.lib.erasure.addresses import line_key, parse_line, redact
from okendo_pipeline.lib.files import replace_durably
from okendo_pipeline.lib.okendo.loader import LandingFile, discover, unpacked


@dataclass
class Rewritten:
    """One rewritten file: what the loader's manifest must now say of it."""

    rel: str
    path: Path
    lines: int  # lines left
    removed: int
    redacted: int
    keys: set[str]  # the erased keys it held
    content_hash: str  # of the new file, for the loader's manifest


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


def _write_atomically(path: Path, data: bytes) -> str:
    """Replace the file with ``data`` (gzipped for a ``.gz``); the sha256 of the bytes on disk,
    as the loader's manifest records files."""
    temp = path.with_name(f".{path.name}.erasing")
    stored = gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data
    temp.write_bytes(stored)
    replace_durably(temp, path)
    return hashlib.sha256(stored).hexdigest()


def erase_landing(
    landing: Path, keys: set[str], pattern: re.Pattern[str], known_files: set[str]
) -> LandingErasure:
    """Rewrite every file that holds one of ``keys``. A file is read when its bytes contain an
    address (case-insensitively) or the warehouse loaded the person's envelopes from it
    (``known_files``: an address written with JSON escapes is found that way)."""
    report = LandingErasure()
    if not landing.is_dir():
        return report
    needles = [k.encode() for k in sorted(keys)]
    for f in discover(landing):
        report.files_scanned += 1
        data = unpacked(f.path, f.path.read_bytes())
        spans = _lines_holding(data, needles)
        if not spans and f.rel not in known_files:
            continue
        if not spans:  # known, yet no address as text: read every line
            spans = _every_line(data)
        rewritten = _rewrite(f, data, spans, keys, pattern)
        if rewritten is not None:
            report.rewritten.append(rewritten)
    return report


def _lines_holding(data: bytes, needles: list[bytes]) -> list[tuple[int, int]]:
    """(start, end) of each line holding a needle, its newline included: found in one pass of
    C per needle, so a file's other lines are never split or parsed."""
    lowered = data.lower()
    spans: set[tuple[int, int]] = set()
    for needle in needles:
        at = lowered.find(needle)
        while at != -1:
            begin = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            end = len(data) if end == -1 else end + 1
            spans.add((begin, end))
            at = lowered.find(needle, end)
    return sorted(spans)


def _every_line(data: bytes) -> list[tuple[int, int]]:
    spans, begin = [], 0
    while begin < len(data):
        end = data.find(b"\n", begin)
        end = len(data) if end == -1 else end + 1
        spans.append((begin, end))
        begin = end
    return spans


def _decide(
    raw: bytes, keys: set[str], pattern: re.Pattern[str]
) -> tuple[bytes | None, str | None]:
    """One line (without its newline) as it stays, or None; and the key it held. A line that is
    not UTF-8 stays byte for byte unless it holds an address (the loader rejects it; a rejected
    line holding it is that person's)."""
    try:
        line = raw.decode()
    except UnicodeDecodeError:
        hits = sorted(k for k in keys if k.encode() in raw.lower())
        return (None, hits[0]) if hits else (raw, None)
    if not line.strip():
        return raw, None
    text, key = keep_line(line, keys, pattern)
    return (None if text is None else text.encode()), key


def _rewrite(
    f: LandingFile,
    data: bytes,
    spans: list[tuple[int, int]],
    keys: set[str],
    pattern: re.Pattern[str],
) -> Rewritten | None:
    """The file with each line in ``spans`` decided; everything between them kept as it is."""
    out: list[bytes] = []
    found: set[str] = set()
    removed = redacted = 0
    last = 0
    for begin, end in spans:
        out.append(data[last:begin])
        last = end
        newline = data[end - 1 : end] == b"\n"
        raw = data[begin : end - 1] if newline else data[begin:end]
        stays, key = _decide(raw, keys, pattern)
        found |= {key} if key else set()
        if stays is None:
            removed += 1
            continue
        redacted += stays != raw
        out.append(stays + (b"\n" if newline else b""))
    out.append(data[last:])
    if not removed and not redacted:
        return None
    text = b"".join(out)
    digest = _write_atomically(f.path, text)
    lines = text.count(b"\n") + (1 if text and not text.endswith(b"\n") else 0)
    return Rewritten(f.rel, f.path, lines, removed, redacted, found, digest)
