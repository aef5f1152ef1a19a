"""The rows' search keys (what free text is matched against), packed.

A string per row costs its text plus about 60 bytes (the object and the
list's pointer to it); a viewer left running keeps one per exchange.  Keys
are kept instead in chunks of ``CHUNK`` rows, each chunk one string of its
keys separated by NUL, with each row's start in an array: the text plus 4
bytes.  Filter text never holds a NUL, so a needle found in a chunk is in
one key; a chunk that does not hold the needle at all is skipped whole
(one search at C speed), so rare words are found faster than row by row.

The last rows wait in a list until their chunk is full.  A key replaced
(an exchange seen again) is kept apart.  Reads from another thread are
safe: sealing a chunk adds it before it empties the list, and readers look
at the list before they count the chunks.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence

from dspscope.viewer.filters import Contains

CHUNK = 1024
SEP = "\0"


class Keys:
    __slots__ = ("_sealed", "_starts", "_tail", "_tail_size", "_changed")

    def __init__(self) -> None:
        self._sealed: list[str] = []
        self._starts = array("I")  # each row's offset in its chunk
        self._tail: list[str] = []
        self._tail_size = 0
        self._changed: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._starts)

    def append(self, key: str) -> None:
        if SEP in key:  # captured text may hold one: that key is kept apart
            self._changed[len(self._starts)] = key
            key = ""
        self._starts.append(self._tail_size)
        self._tail.append(key)
        self._tail_size += len(key) + 1
        if len(self._tail) == CHUNK:
            self._sealed.append(SEP.join(self._tail) + SEP)
            self._tail = []
            self._tail_size = 0

    def replace(self, index: int, key: str) -> None:
        self._changed[index] = key

    def __getitem__(self, index: int) -> str:
        changed = self._changed.get(index)
        if changed is not None:
            return changed
        tail = self._tail
        sealed = len(self._sealed) * CHUNK
        if index >= sealed:
            return tail[index - sealed]
        chunk = self._sealed[index // CHUNK]
        start = self._starts[index]
        return chunk[start:chunk.index(SEP, start)]

    def matching(self, test: Callable[[str], bool], rows: Sequence[int]) -> list[int]:
        """The rows (in order) whose key ``test`` holds for."""
        if not rows:
            return []
        needles = test.needles if isinstance(test, Contains) else None
        if needles is None or any(SEP in n for n in needles):
            return [i for i in rows if test(self[i])]
        tail = self._tail
        chunks = self._sealed
        sealed = len(chunks) * CHUNK
        starts = self._starts
        changed = self._changed
        if isinstance(rows, range) and rows.step == 1 and not changed:
            return self._scan(test, needles, rows, chunks, tail)
        found = []
        last = -1
        chunk = ""
        holds = False
        for i in rows:
            if i in changed:
                if test(changed[i]):
                    found.append(i)
                continue
            if i >= sealed:
                if test(tail[i - sealed]):
                    found.append(i)
                continue
            if i // CHUNK != last:  # a chunk without the needle: none of its rows
                last = i // CHUNK
                chunk = chunks[last]
                holds = any(n in chunk for n in needles)
            if not holds:
                continue
            start = starts[i]
            if test(chunk[start:chunk.index(SEP, start)]):
                found.append(i)
        return found

    def _scan(self, test: Callable[[str], bool], needles: Sequence[str], rows: range,
              chunks: list[str], tail: list[str]) -> list[int]:
        """``matching`` over a range: a chunk without the needle costs one search."""
        starts = self._starts
        sealed = len(chunks) * CHUNK
        found: list[int] = []
        for number in range(rows.start // CHUNK, min(len(chunks), -(-rows.stop // CHUNK))):
            chunk = chunks[number]
            if not any(n in chunk for n in needles):
                continue
            for i in range(max(rows.start, number * CHUNK), min(rows.stop, (number + 1) * CHUNK)):
                start = starts[i]
                if test(chunk[start:chunk.index(SEP, start)]):
                    found.append(i)
        found.extend(i for i in range(max(rows.start, sealed), rows.stop) if test(tail[i - sealed]))
        return found
