"""A simulated WSD scanner (WS-Scan): a platen and a duplex feeder that scan
real pages, for clients such as sane-airscan to scan from through the proxy."""

from .model import ScanFault, ScannerModel, Ticket
from .service import PATH, SimulatedScanner

__all__ = ["PATH", "ScanFault", "ScannerModel", "SimulatedScanner", "Ticket"]
