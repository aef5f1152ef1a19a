"""Names of the protocol: namespaces, actions, operations, enumerations and
the schema facts the decoder needs (which elements repeat, which are typed).

Everything here is data taken from the WS-DSP summary and the DSM pages; the
codec, the checks and the job tracker read it, none of them hard-code a URI.
"""

from __future__ import annotations

from typing import Final

SOAP12: Final = "http://www.w3.org/2003/05/soap-envelope"
SOAP11: Final = "http://schemas.xmlsoap.org/soap/envelope/"
WSA: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSA10: Final = "http://www.w3.org/2005/08/addressing"
DSP: Final = "http://schemas.microsoft.com/windows/2008/12/wdp/distributedscan/processing"
PSP: Final = "http://schemas.microsoft.com/windows/2008/02/imaging/postscan/psp"
FILESHARE: Final = "http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/fileshare"
SHAREPOINT: Final = "http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/sharepoint"
EMAIL: Final = "http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/email"
XOP: Final = "http://www.w3.org/2004/08/xop/include"
WSE: Final = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
WXF: Final = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
MEX: Final = "http://schemas.xmlsoap.org/ws/2004/09/mex"
WSD: Final = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
DPWS: Final = "http://schemas.xmlsoap.org/ws/2006/02/devprof"
DSD: Final = "http://schemas.microsoft.com/windows/2008/12/wdp/distributedscan/device"
WSCN: Final = "http://schemas.microsoft.com/windows/2006/08/wdp/scan"
#: Pre-release namespaces of the WS-Scan reference pages' examples.
WSCN_2006_01: Final = "http://schemas.microsoft.com/windows/2006/01/wdp/scan"
WSA_2003_03: Final = "http://schemas.xmlsoap.org/ws/2003/03/addressing"

ANONYMOUS: Final = WSA + "/role/anonymous"
FAULT_ACTIONS: Final = frozenset(
    {WSA + "/fault", WSA10 + "/fault", WSA10 + "/soap/fault", SOAP12 + "/fault"}
)
DPWS_ACTION_FILTER: Final = DPWS + "/Action"

#: The usual prefixes, for encoding and for rule XPath expressions.
PREFIXES: Final[dict[str, str]] = {
    "soap": SOAP12,
    "wsa": WSA,
    "dsp": DSP,
    "psp": PSP,
    "fsh": FILESHARE,
    "shp": SHAREPOINT,
    "eml": EMAIL,
    "xop": XOP,
    "wse": WSE,
    "wxf": WXF,
    "mex": MEX,
    "wsd": WSD,
    "dpws": DPWS,
    "wscn": WSCN,
}

#: WS-DSP operations: name -> (request element, response element).
OPERATIONS: Final[dict[str, tuple[str, str]]] = {
    "CreatePostScanJob": ("CreatePostScanJobRequest", "CreatePostScanJobResponse"),
    "SendImage": ("SendImageRequest", "SendImageResponse"),
    "EndPostScanJob": ("EndPostScanJobRequest", "EndPostScanJobResponse"),
    "CancelPostScanJob": ("CancelPostScanJobRequest", "CancelPostScanJobResponse"),
    "GetPostScanJobElements": (
        "GetPostScanJobElementsRequest",
        "GetPostScanJobElementsResponse",
    ),
}
#: WS-DSP events: name -> body element (the same name).
EVENTS: Final = ("PostScanJobStatusEvent", "PostScanJobEndStateEvent")

#: Every protocol this decoder recognises by action: namespace -> (protocol,
#: {operation: kind-of-its-messages}).  Responses are "<op>Response".
EVENTING_OPS: Final = ("Subscribe", "Renew", "GetStatus", "Unsubscribe")
TRANSFER_OPS: Final = ("Get",)
DISCOVERY_REQUESTS: Final = {"Probe": "ProbeMatches", "Resolve": "ResolveMatches"}
DISCOVERY_ANNOUNCEMENTS: Final = ("Hello", "Bye")


def action_for(operation: str, *, response: bool = False) -> str:
    """The wsa:Action of a WS-DSP operation or event."""
    return f"{DSP}/{operation}{'Response' if response else ''}"


#: Subcode -> (Code, English Reason, carries Detail).
FAULTS: Final[dict[str, tuple[str, str, bool]]] = {
    "ActionNotSupported": (
        "Sender",
        "The [wsa:Action] cannot be processed at the receiver.",
        True,
    ),
    "InvalidArgs": ("Sender", "At least one input argument is invalid.", True),
    "OperationFailed": (
        "Receiver",
        "The service cannot perform the requested operation.",
        False,
    ),
    "ServerErrorTemporaryError": ("Receiver", "The service had an unexpected error.", False),
    "ServerErrorInternalError": ("Receiver", "The service had an unexpected error.", False),
}
FAULT_NAMESPACE: Final[dict[str, str]] = {
    "ActionNotSupported": WSA,
    "InvalidArgs": DSP,
    "OperationFailed": DSP,
    "ServerErrorTemporaryError": DSP,
    "ServerErrorInternalError": DSP,
}

FORMATS: Final = frozenset(
    {
        "dib", "exif", "jbig", "jfif", "jpeg2k", "pdf-a", "png",
        "tiff-single-uncompressed", "tiff-single-g4", "tiff-single-g3mh",
        "tiff-single-jpeg-tn2", "tiff-multi-uncompressed", "tiff-multi-g4",
        "tiff-multi-g3mh", "tiff-multi-jpeg-tn2", "xps",
    }
)  # fmt: skip

ENUMERATIONS: Final[dict[str, frozenset[str]]] = {
    "JobState": frozenset(
        {"Aborted", "Canceled", "Completed", "Creating", "Pending", "Pending-Held",
         "Processing", "Started", "Terminating"}
    ),
    "JobCompletedState": frozenset({"Aborted", "Canceled", "Completed"}),
    "JobStateReason": frozenset(
        {"None", "NoValidPostScanInstructionsFound", "CreatePostScanJobFailed",
         "SendImageFailed", "PostScanJobCanceled", "PostScanJobProcessingFailed",
         "PostScanJobCompletedSuccessfully", "PostScanJobCompletedWithErrors",
         "PostScanJobCompletedWithWarnings"}
    ),
    "FilterState": frozenset(
        {"Pending", "Processing", "Canceled", "CompletedSuccessfully",
         "CompletedWithErrors", "CompletedWithWarnings"}
    ),
    "FilterStateReason": frozenset(
        {"InvalidArgs", "OutOfDiskSpace", "ServerOutOfMemory", "FileShareAccessDenied",
         "FileShareOutOfDiskSpace", "SharepointAccessDenied", "SharepointOutOfDiskSpace",
         "InvalidSMTPServer", "UnableToSendEmail", "UnknownError"}
    ),
}  # fmt: skip

#: Elements the schemas let repeat: always lists in decoded fields.
REPEATED: Final = frozenset(
    {"Filter", "ShareUNC", "EmailAddress", "SaveToSharePointSiteURL", "Name",
     "ElementData", "FilterStatus", "JobStateReason", "FilterStateReason"}
)  # fmt: skip
BOOLEANS: Final = frozenset(
    {"ContinueOnError", "SaveToMySite", "SendToScanUser", "CanAddAddresses", "Valid"}
)
INTEGERS: Final = frozenset({"DocumentId", "ImagesReceived"})
#: Maximum lengths from the filter schemas.
MAX_LENGTH: Final[dict[str, int]] = {
    "ShareUNC": 255,
    "EmailAddress": 255,
    "SaveToSharePointSiteURL": 2048,
}

#: Namespaces whose elements are part of some schema we know; anything else
#: inside a WS-DSP body is a vendor extension.
KNOWN_NAMESPACES: Final = frozenset(
    {SOAP12, SOAP11, WSA, WSA10, DSP, PSP, FILESHARE, SHAREPOINT, EMAIL, XOP, WSE, WXF,
     MEX, WSD, DPWS, DSD, WSCN, WSCN_2006_01, WSA_2003_03}
)  # fmt: skip

#: Header blocks that belong to WS-Addressing (decoded into Message fields).
ADDRESSING_HEADERS: Final = frozenset(
    {"To", "Action", "MessageID", "RelatesTo", "ReplyTo", "From", "FaultTo"}
)

#: Element names of the WS-DSP namespace, from the element pages of the DSM
#: documentation (one page per element, titled by its path).  Anything else
#: in that namespace is not WS-DSP (vendors extend in their own namespace).
DSP_ELEMENTS: Final = frozenset(
    {*(name for pair in OPERATIONS.values() for name in pair), *EVENTS,
     "CanAddAddresses", "ContinueOnError", "Dialect", "DocumentDescription", "DocumentId",
     "DocumentRootName", "ElementData", "EmailAddress", "FileShares", "Filter",
     "FilterCompletedStatus", "FilterCompletedStatuses", "FilterState", "FilterStateReason",
     "FilterStateReasons", "FilterStatus", "FilterStatuses", "FiltersToProcess", "Format",
     "ImageData", "ImagesReceived", "Instructions", "JobCompletedState",
     "JobCompletedStateReason", "JobCompletedStateReasons", "JobCompletedTime",
     "JobCreatedTime", "JobDescription", "JobElements", "JobOriginatingUserName", "JobState",
     "JobStateReason", "JobStateReasons", "JobStatus", "JobToken", "Name", "PSP_DisplayName",
     "PSP_Identifier", "PostScanInstructions", "PostScanJobEndState", "RequestedElements",
     "SaveToMySite", "SaveToSharePointSiteURL", "SaveToSharePointSites", "SendToAddresses",
     "SendToScanUser", "ShareUNC", "UserIdentifier", "Valid"}
)  # fmt: skip
#: Fields of type xs:dateTime.
DATETIMES: Final = frozenset({"JobCreatedTime", "JobCompletedTime"})
#: Filter dialect -> the configuration element its Instructions hold.
FILTER_CONFIGS: Final[dict[str, str]] = {
    FILESHARE: "FileShareConfig",
    SHAREPOINT: "SharePointConfig",
    EMAIL: "EmailConfig",
}
