"""Which WS-DSP (``dsp`` namespace) elements each message body can hold,
from the message pages of the DSM documentation (CreatePostScanJobRequest,
SendImageRequest, GetPostScanJobElementsResponse, PostScanJobStatusEvent,
PostScanJobEndStateEvent, ...).  ``dspscope rules check`` uses it to say
when a rule's XPath names an element that never occurs in the messages the
rule sees.  A fault answering a request holds no ``dsp`` element (its
subcode is text).  Pure."""

from __future__ import annotations

from typing import Final

from . import names

_JOB_STATUS = frozenset({
    "JobStatus", "JobToken", "JobState", "JobStateReasons", "JobStateReason", "FilterStatuses",
    "FilterStatus", "Dialect", "FilterState", "FilterStateReasons", "FilterStateReason",
    "ImagesReceived", "JobCreatedTime", "JobCompletedTime",
})
_JOB_DESCRIPTION = frozenset({"JobDescription", "PSP_Identifier", "PSP_DisplayName",
                              "JobOriginatingUserName"})
_END_STATE = frozenset({
    "PostScanJobEndState", "JobToken", "PSP_Identifier", "PSP_DisplayName", "JobOriginatingUserName",
    "JobCompletedState", "JobCompletedStateReasons", "JobStateReason", "FilterCompletedStatuses",
    "FilterStatus", "Dialect", "FilterState", "FilterStateReasons", "FilterStateReason",
    "ImagesReceived", "JobCompletedTime",
})

#: Body element -> the dsp-namespace elements that can occur in it (itself included).
DSP_ELEMENTS: Final[dict[str, frozenset[str]]] = {
    "CreatePostScanJobRequest": frozenset({"CreatePostScanJobRequest", "UserIdentifier",
                                           "PSP_Identifier", "PostScanInstructions"}),
    "CreatePostScanJobResponse": frozenset({"CreatePostScanJobResponse", "JobToken"}),
    "SendImageRequest": frozenset({"SendImageRequest", "JobToken", "DocumentDescription",
                                   "DocumentId", "Format", "ImageData"}),
    "SendImageResponse": frozenset({"SendImageResponse"}),
    "EndPostScanJobRequest": frozenset({"EndPostScanJobRequest", "JobToken"}),
    "EndPostScanJobResponse": frozenset({"EndPostScanJobResponse"}),
    "CancelPostScanJobRequest": frozenset({"CancelPostScanJobRequest", "JobToken"}),
    "CancelPostScanJobResponse": frozenset({"CancelPostScanJobResponse"}),
    "GetPostScanJobElementsRequest": frozenset({"GetPostScanJobElementsRequest", "JobToken",
                                                "RequestedElements", "Name"}),
    "GetPostScanJobElementsResponse": frozenset({"GetPostScanJobElementsResponse", "JobElements",
                                                 "ElementData"}) | _JOB_STATUS | _JOB_DESCRIPTION,
    "PostScanJobStatusEvent": frozenset({"PostScanJobStatusEvent"}) | _JOB_STATUS,
    "PostScanJobEndStateEvent": frozenset({"PostScanJobEndStateEvent"}) | _END_STATE,
}


def dsp_elements(operation: str, side: str) -> frozenset[str] | None:
    """The dsp elements a message of ``operation`` on ``side`` ("request",
    "response", "event") can hold; None when they are not known (not a
    WS-DSP operation)."""
    if operation in names.EVENTS:
        return DSP_ELEMENTS[operation] if side == "event" else None
    bodies = names.OPERATIONS.get(operation)
    if bodies is None or side not in ("request", "response"):
        return None
    return DSP_ELEMENTS[bodies[0] if side == "request" else bodies[1]]
