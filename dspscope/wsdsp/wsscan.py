"""WS-Scan (the WSD Scan Service): the pull-scanning sibling of WS-DSP that a
client (Windows, sane-airscan) speaks to a network scanner.

Names, actions, operations, events and faults of the protocol, and the
classification of a message by its action (or, without one, its body
element).  Both namespace generations are recognised: the shipped one
(2006/08, what real scanners and clients use) and the pre-release one
(2006/01) of the reference pages' examples.  Every reference here is the
title of a page of the "Web Services on Devices Reference" (WSD Scan
Service) a reader can open.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .messages import Kind
from .names import WSA_2003_03 as WSA_2003_03  # re-exported: WS-Scan's pre-release pair
from .names import WSCN
from .names import WSCN_2006_01 as WSCN_2006_01

NAMESPACES: Final = frozenset({WSCN, WSCN_2006_01})

#: Operations: name -> (request element, response element).
OPERATIONS: Final[dict[str, tuple[str, str]]] = {
    op: (op + "Request", op + "Response")
    for op in (
        "GetScannerElements", "ValidateScanTicket", "CreateScanJob", "RetrieveImage",
        "GetJobElements", "CancelJob", "GetActiveJobs", "GetJobHistory",
    )
}  # fmt: skip
#: Events: name -> body element (the same name).
EVENTS: Final = (
    "ScanAvailableEvent", "ScannerElementsChangeEvent", "ScannerStatusSummaryEvent",
    "ScannerStatusConditionEvent", "ScannerStatusConditionClearedEvent", "JobStatusEvent",
    "JobEndStateEvent",
)  # fmt: skip

#: Reference page titles, for findings.
REF_OPERATIONS: Final = "WSD Scan Service Operation Elements"
REF_ERRORS: Final = "Common WSD Scan Service Operation Error Codes"
REF_ERROR_REPORTING: Final = "WSD Scan Service Operation Error Reporting"
REF_SCHEMA: Final = "Scan Service (WS-Scan) Schema"


def page(element: str) -> str:
    """The reference page of an element or operation: "<Name> element"."""
    return f"{element} (WSD Scan Service reference)"


def action_for(operation: str, *, response: bool = False, namespace: str = WSCN) -> str:
    """The wsa:Action of an operation (its response) or event."""
    return f"{namespace}/{operation}{'Response' if response else ''}"


#: Subcode -> (Code, English Reason), from the error-code pages: the common
#: ones and those of each operation's request page.
FAULTS: Final[dict[str, tuple[str, str]]] = {
    "ActionNotSupported": ("Sender", "The [wsa:action] cannot be processed at the receiver."),
    "InvalidArgs": ("Sender", "At least one input argument is invalid."),
    "OperationFailed": ("Receiver", "The service cannot perform the requested operation."),
    "ServerErrorTemporaryError": ("Receiver", "The service had an unexpected error."),
    "ServerErrorInternalError": ("Receiver", "The service had an unexpected error."),
    "ServerErrorNotAcceptingJobs": (
        "Receiver",
        "The service is temporarily blocked and cannot accept new job or document requests.",
    ),
    "ClientErrorFormatNotSupported": (
        "Sender", "The Document Format parameter value is not supported.",
    ),
    "ClientErrorInvalidScanIdentifier": (
        "Sender", "The ScanIdentifier parameter value is not currently valid.",
    ),
    "ClientErrorInvalidDestinationToken": (
        "Sender", "The DestinationToken parameter value is not currently valid.",
    ),
    "ClientErrorNoImagesAvailable": ("Sender", "The server has no images available to acquire."),
    "ClientErrorJobIdNotFound": ("Sender", "The specified JobId was not found."),
    "ClientErrorInvalidJobToken": (
        "Sender", "The JobToken parameter value is not valid with the JobId parameter.",
    ),
    "ClientErrorJobCancelled": ("Sender", "The current scan job has been canceled."),
    "ClientErrorConflictingRequiredParameters": (
        "Sender",
        "Multiple elements in the DocumentParameters element have MustHonor set to true, but "
        "applying all settings set to true causes a conflict in the scanner device.",
    ),
}  # fmt: skip
#: Where the spec's table puts the subcode: wsa for ActionNotSupported, the
#: printer schema's wprt for ServerErrorTemporaryError, wscn for the rest.
WPRT: Final = "http://schemas.microsoft.com/windows/2006/08/wdp/print"

#: Which faults each operation's page lists beside the common ones.
OPERATION_FAULTS: Final[dict[str, frozenset[str]]] = {
    "CreateScanJob": frozenset({
        "ServerErrorNotAcceptingJobs", "ClientErrorFormatNotSupported",
        "ClientErrorInvalidScanIdentifier", "ClientErrorInvalidDestinationToken",
        "ClientErrorNoImagesAvailable",
    }),
    "RetrieveImage": frozenset({
        "ClientErrorJobIdNotFound", "ClientErrorNoImagesAvailable", "ClientErrorInvalidJobToken",
        "ClientErrorJobCancelled",
    }),
    "GetJobElements": frozenset({"ClientErrorJobIdNotFound"}),
    "CancelJob": frozenset({"ClientErrorJobIdNotFound"}),
    "ValidateScanTicket": frozenset({"ClientErrorConflictingRequiredParameters"}),
}  # fmt: skip
COMMON_FAULTS: Final = frozenset(
    {"ActionNotSupported", "InvalidArgs", "OperationFailed", "ServerErrorTemporaryError",
     "ServerErrorInternalError"}
)  # fmt: skip

#: Enumerations a checker can hold values to (from the element pages).
ENUMERATIONS: Final[dict[str, frozenset[str]]] = {
    "InputSource": frozenset({"ADF", "ADFDuplex", "Film", "Platen"}),
    "ColorProcessing": frozenset(
        {"BlackAndWhite1", "Grayscale4", "Grayscale8", "Grayscale16", "RGB24", "RGB48",
         "RGBa32", "RGBa64"}
    ),
    "ColorEntry": frozenset(
        {"BlackAndWhite1", "Grayscale4", "Grayscale8", "Grayscale16", "RGB24", "RGB48",
         "RGBa32", "RGBa64"}
    ),
    "ContentType": frozenset({"Auto", "Text", "Photo", "Halftone", "Mixed"}),
    "JobState": frozenset(
        {"Aborted", "Canceled", "Completed", "Creating", "Pending", "Pending-Held",
         "Processing", "Started", "Terminating"}
    ),
    "JobCompletedState": frozenset({"Aborted", "Canceled", "Completed"}),
    "ScannerState": frozenset({"Idle", "Processing", "Stopped"}),
    "Severity": frozenset({"Informational", "Warning", "Critical"}),
}  # fmt: skip

#: Elements that repeat in the schema, by parent: always lists in fields.
REPEATED: Final[dict[str, frozenset[str]]] = {
    "RequestedElements": frozenset({"Name"}),
    "ScannerElements": frozenset({"ElementData"}),
    "JobElements": frozenset({"ElementData"}),
    "FormatsSupported": frozenset({"FormatValue"}),
    "ContentTypesSupported": frozenset({"ContentTypeValue"}),
    "RotationsSupported": frozenset({"RotationValue"}),
    "FilmScanModesSupported": frozenset({"FilmScanModeValue"}),
    "Widths": frozenset({"Width"}),
    "Heights": frozenset({"Height"}),
    "PlatenColor": frozenset({"ColorEntry"}),
    "ADFColor": frozenset({"ColorEntry"}),
    "FilmColor": frozenset({"ColorEntry"}),
    "ScannerStateReasons": frozenset({"ScannerStateReason"}),
    "JobStateReasons": frozenset({"JobStateReason"}),
    "ActiveConditions": frozenset({"DeviceCondition"}),
    "ConditionHistory": frozenset({"ConditionHistoryEntry"}),
    "ActiveJobs": frozenset({"Job", "JobSummary"}),
    "JobHistory": frozenset({"JobSummary"}),
    "ScanDestinations": frozenset({"ScanDestination"}),
    "DestinationResponses": frozenset({"DestinationResponse"}),
}
#: Leaves that are integers wherever they appear in a WS-Scan body.
INTEGERS: Final = frozenset(
    {"JobId", "ImagesToTransfer", "ScansCompleted", "PixelsPerLine", "NumberOfLines",
     "BytesPerLine", "ScanRegionXOffset", "ScanRegionYOffset", "ScanRegionWidth",
     "ScanRegionHeight", "CompressionQualityFactor", "ConditionId"}
)  # fmt: skip
BOOLEANS: Final = frozenset(
    {"Valid", "MustHonor", "ADFSupportsDuplex", "DocumentSizeAutoDetectSupported",
     "AutoExposureSupported", "BrightnessSupported", "ContrastSupported", "Override",
     "UsedDefault", "DocumentSizeAutoDetect", "AutoExposure", "ValidTicket"}
)  # fmt: skip


def is_wsscan(namespace: str | None) -> bool:
    return namespace in NAMESPACES


def classify(
    action: str | None, body_name: str | None, body_ns: str
) -> tuple[Kind, str | None, str | None] | None:
    """(kind, operation, expected body element) of a WS-Scan message, or
    None when neither its action nor (without an action) its body is
    WS-Scan's."""
    ns, _, name = (action or "").rpartition("/")
    if action:
        if ns not in NAMESPACES:
            return None
    elif body_ns in NAMESPACES and body_name:
        return _by_body(body_name)
    else:
        return None
    if name in OPERATIONS:
        # A response carries the request's action in the examples; the body tells.
        if body_name == OPERATIONS[name][1]:
            return "response", name, OPERATIONS[name][1]
        return "request", name, OPERATIONS[name][0]
    if name.endswith("Response") and name[:-8] in OPERATIONS:
        return "response", name[:-8], OPERATIONS[name[:-8]][1]
    if name in EVENTS:
        return "event", name, name
    return "unknown", name or None, None


def _by_body(body_name: str) -> tuple[Kind, str | None, str | None]:
    for op, (req, resp) in OPERATIONS.items():
        if body_name == req:
            return "request", op, req
        if body_name == resp:
            return "response", op, resp
    if body_name in EVENTS:
        return "event", body_name, body_name
    return "unknown", None, None


def normalize(value: Any, parent: str = "") -> Any:
    """Decoded WS-Scan fields with the schema's repeating elements as lists
    and integer/boolean leaves typed (what cannot be typed stays text)."""
    if isinstance(value, Mapping):
        repeated = REPEATED.get(parent, frozenset())
        out: dict[str, Any] = {}
        for key, item in value.items():
            local = key[1:] if key.startswith("@") else key
            item = normalize(item, local) if not isinstance(item, str) else _typed(local, item)
            if key in repeated and not isinstance(item, list):
                item = [item]
            out[key] = item
        return out
    if isinstance(value, list):
        return [normalize(item, parent) if not isinstance(item, str) else _typed(parent, item)
                for item in value]
    return value


def _typed(local: str, text: str) -> Any:
    if local in INTEGERS or (local in ("Width", "Height") and text.isdigit()):
        try:
            return int(text)
        except ValueError:
            return text
    if local in BOOLEANS:
        lowered = text.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
    return text
