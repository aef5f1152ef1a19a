"""Value forms real stacks disagree on: GUIDs, SIDs, message IDs, booleans."""

from __future__ import annotations

import re
import uuid

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SID = re.compile(r"S-1-\d+(-\d+)+")
_INTEGER = re.compile(r"[+-]?\d{1,18}")


def normalize_guid(value: str) -> str:
    """Lower case, without braces or a ``urn:uuid:``/``uuid:`` prefix.

    Anything that is not a GUID comes back stripped but otherwise unchanged."""
    text = value.strip()
    low = text.lower()
    for prefix in ("urn:uuid:", "uuid:"):
        if low.startswith(prefix):
            low = low[len(prefix) :].strip()
            break
    if low.startswith("{") and low.endswith("}"):
        low = low[1:-1].strip()
    return low if _GUID.fullmatch(low) else text


_GUID_ANY_CASE = re.compile(_GUID.pattern, re.IGNORECASE)


def is_guid(value: str) -> bool:
    if _GUID_ANY_CASE.fullmatch(value):  # the usual spelling, without normalising
        return True
    return _GUID.fullmatch(normalize_guid(value)) is not None


def is_sid(value: str) -> bool:
    return _SID.fullmatch(value.strip()) is not None


def parse_bool(text: str) -> bool | None:
    """xs:boolean: true/false/1/0 (surrounding whitespace allowed)."""
    return {"true": True, "1": True, "false": False, "0": False}.get(text.strip())


def parse_int(text: str) -> int | None:
    text = text.strip()
    return int(text) if _INTEGER.fullmatch(text) else None


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def new_guid() -> str:
    return str(uuid.uuid4())


def same_message_id(a: str | None, b: str | None) -> bool:
    """MessageIDs compared the way stacks mean them: GUIDs in any form match."""
    if a is None or b is None:
        return False
    return normalize_guid(a) == normalize_guid(b)
