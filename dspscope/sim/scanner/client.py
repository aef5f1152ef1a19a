"""A simulated WS-Scan client (what Windows or sane-airscan do): ask the
scanner what it can do, create a scan job, retrieve its pages until the
scanner has no more, ask for the job's status; in a loop, alternating the
platen and the feeder.  The demo runs it through the proxy."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import aiohttp

from dspscope.wsdsp import Message, decode, encode, scanbuild

Report = Callable[[str], None]


class ScanClient:
    def __init__(self, url: str, *, pause: float = 2.0, report: Report | None = None,
                 timeout: float = 30.0) -> None:
        self.url = url
        self.pause = pause
        self.report: Report = report or (lambda _line: None)
        self.timeout = timeout
        self.jobs = 0
        self.pages = 0
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True

    async def run(self, jobs: int | None = None) -> None:
        """Scan ``jobs`` jobs (None: until stopped)."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await self._send(session, scanbuild.request(
                "GetScannerElements", {"RequestedElements": {"Name": [
                    "wscn:ScannerDescription", "wscn:ScannerConfiguration",
                    "wscn:DefaultScanTicket"]}}, to=self.url))
            sources = itertools.cycle(("Platen", "ADF", "ADFDuplex"))
            for number in itertools.count(1):
                if self._stopping or (jobs is not None and number > jobs):
                    return
                await self.scan(session, next(sources))
                if self.pause and not self._stopping:
                    await asyncio.sleep(self.pause)

    async def scan(self, session: aiohttp.ClientSession, source: str) -> int:
        """One job from ``source``; the number of pages it gave."""
        ticket = _ticket(source, "RGB24" if source == "Platen" else "Grayscale8")
        check = await self._send(session, scanbuild.request("ValidateScanTicket", ticket,
                                                            to=self.url))
        if check.kind == "fault":
            return 0
        created = await self._send(session, scanbuild.request("CreateScanJob", ticket,
                                                              to=self.url))
        if created.kind != "response":
            self.report(f"CreateScanJob failed: {_why(created)}")
            return 0
        job_id, token = created.body.get("JobId"), created.body.get("JobToken")
        self.jobs += 1
        pages = 0
        while not self._stopping:
            image = await self._send(session, scanbuild.request("RetrieveImage", {
                "JobId": job_id, "JobToken": token,
                "DocumentDescription": {"DocumentName": f"page{pages + 1}.png"}}, to=self.url))
            if image.kind != "response":
                if not (image.fault and image.fault.subcode == "ClientErrorNoImagesAvailable"):
                    self.report(f"job {job_id}: RetrieveImage failed: {_why(image)}")
                    await self._send(session, scanbuild.request("CancelJob", {"JobId": job_id},
                                                                to=self.url))
                break
            pages += 1
            self.pages += 1
            if source == "Platen":
                break
        await self._send(session, scanbuild.request("GetJobElements", {
            "JobId": job_id, "RequestedElements": {"Name": ["wscn:JobStatus"]}}, to=self.url))
        return pages

    async def _send(self, session: aiohttp.ClientSession, request: Message) -> Message:
        encoded = encode(request)
        async with session.post(self.url, data=encoded.content,
                                headers={"Content-Type": encoded.content_type,
                                         "User-Agent": "dspscope-scan-client"}) as response:
            body = await response.read()
            return decode(body, response.headers.get("Content-Type"), request=request,
                          hash_attachments=False)


def _ticket(source: str, colour: str) -> dict[str, Any]:
    return {"ScanTicket": {
        "JobDescription": {"JobName": f"demo {source.lower()} scan",
                           "JobOriginatingUserName": "dspscope demo"},
        "DocumentParameters": {
            "Format": "png", "ImagesToTransfer": 0, "InputSource": source,
            "InputSize": {"InputMediaSize": {"Width": 8500, "Height": 11000}},
            "MediaSides": {"MediaFront": {
                "ColorProcessing": colour, "Resolution": {"Width": 75, "Height": 75},
                "ScanRegion": {"ScanRegionXOffset": 0, "ScanRegionYOffset": 0,
                               "ScanRegionWidth": 8500, "ScanRegionHeight": 11000}}},
        }}}


def _why(message: Message) -> str:
    if message.fault is not None:
        return message.fault.subcode or message.fault.code
    return message.kind
