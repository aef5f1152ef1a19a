"""The decode addon: runs first, and decodes each request and response as
it arrives (decoded.py keeps the result for every later addon).

The proxy fails open: an exception here is logged and counted on the flow,
and the flow goes on untouched.
"""

from __future__ import annotations

from mitmproxy import http

from dspscope.addons.decoded import Side, hashed_async, message_async, report_error, state_of


class Decode:
    """Decodes each request and response as it arrives."""

    name = "dspscope_decode"

    def __init__(self) -> None:
        self.errors = 0

    async def request(self, flow: http.HTTPFlow) -> None:
        await self._decode(flow, "request")

    async def response(self, flow: http.HTTPFlow) -> None:
        await self._hash_request(flow)
        await self._decode(flow, "response", hashed=True)

    async def error(self, flow: http.HTTPFlow) -> None:
        await self._hash_request(flow)

    async def _hash_request(self, flow: http.HTTPFlow) -> None:
        # The request is final now: its attachments get their sha256 (unless
        # decoding it failed already: that was reported once).
        if state_of(flow).request is not None:
            await self._decode(flow, "request", hashed=True)

    async def _decode(self, flow: http.HTTPFlow, side: Side, hashed: bool = False) -> None:
        try:
            if hashed:
                await hashed_async(flow, side)
            else:
                await message_async(flow, side)
        except Exception as exc:  # noqa: BLE001 - fail open
            self.errors += 1
            report_error(flow, f"decode {side}", exc)
