"""Received images on disk, the way the file-share filter files them:
``DIR/<user>/<DocumentRootName>-<n>.<ext>``.

User and DocumentRootName come off the wire, so they are reduced to a safe
file-name alphabet first (no separators, no leading dots, bounded length):
no name a device sends can leave DIR.  Images are staged under
``DIR/.incoming`` as they arrive and moved into place when the job's filters
run; ``n`` is the first free number for that user and root name, claimed
with an exclusive create so concurrent jobs never overwrite each other.
Blocking calls: run them in a thread.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dspscope.sim.images import EXTENSIONS

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_COMPONENT = 100


def safe_component(text: str, fallback: str) -> str:
    """``text`` as one harmless path component (``fallback`` if nothing is left)."""
    cleaned = _UNSAFE.sub("_", text.strip()).strip("._-")[:_MAX_COMPONENT].rstrip("._-")
    return cleaned or fallback


def extension(fmt: str) -> str:
    return EXTENSIONS.get(fmt, "bin")


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / ".incoming"
        self._next: dict[tuple[Path, str, str], int] = {}

    def prepare(self) -> None:
        self.incoming.mkdir(parents=True, exist_ok=True)

    def stage(self, token: str, index: int, data: memoryview) -> str:
        """Keep one image until the job's filters run; returns its staged path."""
        path = self.incoming / f"{safe_component(token, 'job')}-{index}.part"
        with open(path, "wb") as handle:
            handle.write(data)
        return str(path)

    def commit(self, user: str, document_root: str, staged: list[tuple[str, str]]) -> list[Path]:
        """Move staged (path, format) images to their final names, in order."""
        folder = self.root / safe_component(user, "unknown-user")
        folder.mkdir(parents=True, exist_ok=True)
        stem = safe_component(document_root, "Scan")
        out = []
        for path, fmt in staged:
            final = self._claim(folder, stem, extension(fmt))
            os.replace(path, final)
            out.append(final)
        return out

    def discard(self, staged: list[str]) -> None:
        for path in staged:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def _claim(self, folder: Path, stem: str, ext: str) -> Path:
        key = (folder, stem, ext)
        n = self._next.get(key, 1)
        while True:
            candidate = folder / f"{stem}-{n}.{ext}"
            n += 1
            try:
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            os.close(fd)
            self._next[key] = n
            return candidate
