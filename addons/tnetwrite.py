"""A faster writer of mitmproxy's capture format (tnetstrings).

``mitmproxy.io.tnetstring.dumps`` makes one Python call per value, a few
hundred per flow, and the proxy makes one record per exchange on its event
loop; this writer makes the same bytes with one call per container (a
scalar is written where it is met) and keeps large ``bytes`` values (scanned
images) as pieces of their own instead of copying them into one buffer.

The output is byte for byte what ``tnetstring.dumps`` makes: the tests
compare the two on real flows and on generated values.  No mitmproxy here.
"""

from __future__ import annotations

from typing import Any

#: Byte strings at least this long are their own piece (never copied); the
#: short pieces between them are joined (one iovec each would cost more).
BIG_PIECE = 64 * 1024


def pieces(value: Any) -> list[bytes]:
    """The tnetstring of ``value`` as a few pieces: joined, what
    ``tnetstring.dumps(value)`` returns.  Raises ValueError for a value it
    cannot hold, as ``dumps`` does."""
    out: list[bytes] = []
    _value(value, out)
    merged: list[bytes] = []
    run: list[bytes] = []
    for piece in out:
        if len(piece) >= BIG_PIECE:
            if run:
                merged.append(b"".join(run))
                run = []
            merged.append(piece)
        else:
            run.append(piece)
    if run:
        merged.append(b"".join(run))
    return merged


def dumps(value: Any) -> bytes:
    return b"".join(pieces(value))


def _value(value: Any, out: list[bytes]) -> int:
    """Append the pieces of ``value`` to ``out``; their total length."""
    kind = type(value)
    if kind is dict:
        return _container(reversed(value.items()), out, b"}", pairs=True)
    if kind is list or kind is tuple:
        return _container(value, out, b"]", pairs=False)
    piece = _scalar(value)
    if piece is None:
        return _other(value, out)
    out.append(piece)
    return len(piece)


def _container(items: Any, out: list[bytes], end: bytes, *, pairs: bool) -> int:
    """A dict's items (last first, as ``dumps`` writes them) or a list's."""
    inner: list[bytes] = []
    size = 0
    append = inner.append
    for item in items:
        for value in (item if pairs else (item,)):
            kind = type(value)
            if kind is str:
                data = value.encode("utf8")
                piece = b"%d:%b;" % (len(data), data)
            elif kind is bytes:
                if len(value) >= BIG_PIECE:
                    head = b"%d:" % len(value)
                    inner += (head, value, b",")
                    size += len(head) + len(value) + 1
                    continue
                piece = b"%d:%b," % (len(value), value)
            elif value is None:
                piece = b"0:~"
            elif kind is tuple and len(value) == 2 and type(value[0]) is bytes \
                    and type(value[1]) is bytes and len(value[1]) < BIG_PIECE:
                name, text = value  # a header: the most common container of a flow
                pair = b"%d:%b,%d:%b," % (len(name), name, len(text), text)
                piece = b"%d:%b]" % (len(pair), pair)
            elif kind is dict or kind is list or kind is tuple:
                size += _value(value, inner)
                continue
            else:
                found = _scalar(value)
                if found is None:
                    size += _other(value, inner)
                    continue
                piece = found
            append(piece)
            size += len(piece)
    head = b"%d:" % size
    out.append(head)
    out += inner
    out.append(end)
    return len(head) + size + 1


def _scalar(value: Any) -> bytes | None:
    """The tnetstring of a value that holds no other, or None."""
    if value is None:
        return b"0:~"
    if value is True:
        return b"4:true!"
    if value is False:
        return b"5:false!"
    if isinstance(value, int):
        data = str(value).encode()
        return b"%d:%b#" % (len(data), data)
    if isinstance(value, float):
        data = repr(value).encode()
        return b"%d:%b^" % (len(data), data)
    if isinstance(value, bytes):
        return b"%d:%b," % (len(value), value)
    if isinstance(value, str):
        data = value.encode("utf8")
        return b"%d:%b;" % (len(data), data)
    return None


def _other(value: Any, out: list[bytes]) -> int:
    """Subclasses of dict, list and tuple, as ``dumps`` takes them."""
    if isinstance(value, dict):
        return _container(reversed(value.items()), out, b"}", pairs=True)
    if isinstance(value, (list, tuple)):
        return _container(value, out, b"]", pairs=False)
    raise ValueError(f"unserializable object: {value!r} ({type(value)})")
