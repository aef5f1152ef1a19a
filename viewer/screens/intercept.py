"""A paused request or response: edit its XML and forward it, or answer
with a fault instead.

The message waits inside the proxy (mitmproxy's flow.intercept(); a
response waits before it is recorded) until this screen forwards or
answers it; leaving the screen keeps it paused.  A paused response
answered with a fault is replaced by it (the device gets the fault, the
server's answer is kept as the original).  An MTOM message is edited in its
XML root part only: the image parts are kept byte for byte around the
edited XML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mitmproxy import http
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static, TextArea

from dspscope.viewer.controls import Answer, InterceptControl
from dspscope.viewer.detail_text import body_of
from dspscope.viewer.safe import literal, printable
from dspscope.viewer.store import Row
from dspscope.viewer.xmltext import indented, xml_span
from dspscope.wsdsp import build, decode, encode, names
from dspscope.wsdsp.codec import parse_envelope

if TYPE_CHECKING:
    from dspscope.viewer.app import DspscopeApp


def spliced(body: bytes, content_type: str | None, xml: str) -> bytes:
    """``body`` with its XML (the MTOM root part, or everything) replaced."""
    start, end = xml_span(body, content_type)
    if start == end == 0 and body:
        start, end = 0, len(body)
    return body[:start] + xml.encode("utf-8") + body[end:]


def fault_answer(request_body: bytes, content_type: str | None, subcode: str) -> Answer:
    """The SOAP fault ``subcode`` answering the request, built by wsdsp."""
    request = decode(request_body, content_type)
    fault = build.fault(request if request.protocol != "not-soap" else None, subcode)
    encoded = encode(fault)
    return Answer(build.fault_status(fault), encoded.content, encoded.content_type)


class InterceptScreen(Screen[None]):
    HELP_TITLE = "intercept editor"  # its group in the help screen
    BINDINGS = [
        Binding("ctrl+f", "forward", "Forward"),
        Binding("ctrl+g", "answer_fault", "Answer with a fault"),
        Binding("ctrl+r", "revert", "Revert edits"),
        Binding("escape", "app.pop_screen", "Back (stays paused)"),
    ]
    CSS_PATH = "intercept.tcss"

    app: DspscopeApp

    def __init__(self, row: Row, flow: http.HTTPFlow, control: InterceptControl) -> None:
        super().__init__()
        self.row = row
        self.flow = flow
        self.control = control
        #: "response" when the server's answer is what waits
        self.side = "response" if flow.response is not None else "request"
        message = flow.response if flow.response is not None else flow.request
        body = body_of(message)
        self.body = body
        self.content_type = message.headers.get("content-type")
        # a fault answers the request (RelatesTo its MessageID), on either side
        self.request_body = body_of(flow.request)
        self.request_type = flow.request.headers.get("content-type")
        # Indented for editing; forwarded unchanged, the original bytes go.
        self.original = indented(body, self.content_type)
        # Text with control or bidi characters is not put in an editor,
        # where it would reach the terminal as typed: it can only be
        # forwarded unchanged or answered.
        self.editable = printable(self.original, multiline=True) == self.original

    def compose(self) -> ComposeResult:
        status = f" (HTTP {self.flow.response.status_code})" if self.flow.response is not None else ""
        head = Text(f"⏸ paused {self.side}{status}  ", style="bold")
        head.append_text(literal(self.row.operation or self.row.protocol or "request", style="bold",
                                 limit=60))
        head.append("  from ")
        head.append_text(literal(self.row.device, limit=60))
        head.append("  to ")
        head.append_text(literal(self.row.url, limit=200))
        instead = " instead" if self.side == "response" else ""
        head.append(f"\nctrl+f forward (with your edits)   ctrl+g answer with a fault{instead}   "
                    f"ctrl+r revert   escape back (the {self.side} stays paused)", style="dim")
        if not self.editable:
            head.append("\nThis body holds control or bidi characters: shown escaped, "
                        "read-only.", style="bold")
        yield Static(head, id="intercept-head")
        if self.editable:
            yield TextArea(self.original, id="intercept-xml", soft_wrap=False, show_line_numbers=True)
        else:
            with VerticalScroll():
                yield Static(literal(self.original, multiline=True, limit=512 * 1024))
        yield Footer()

    def current_row(self) -> Row | None:
        return self.row

    def _text(self) -> str:
        if not self.editable:
            return self.original
        return self.query_one("#intercept-xml", TextArea).text

    def action_revert(self) -> None:
        if self.editable:
            self.query_one("#intercept-xml", TextArea).text = self.original

    def action_forward(self) -> None:
        text = self._text()
        content = None
        if text != self.original:
            content = spliced(self.body, self.content_type, text)
            if parse_envelope(content, self.content_type) is None:
                self.app.say("The edited body is not well-formed XML; forwarded as it is.", "warning")
        self.control.forward(self.row.id, content)
        self.app.say("Forwarded" + (" with your edits." if content is not None else "."))
        self.app.pop_screen()

    def action_answer_fault(self) -> None:
        from dspscope.viewer.screens.choose import Choose

        choices = [(subcode, f"{code}: {reason}") for subcode, (code, reason, _) in names.FAULTS.items()]

        def chosen(subcode: str | None) -> None:
            if not subcode:
                return
            answer = fault_answer(self.request_body, self.request_type, subcode)
            self.control.answer(self.row.id, answer)
            self.app.say(f"Answered with {subcode} (HTTP {answer.status}).")
            self.app.pop_screen()

        self.app.push_screen(Choose(f"Answer the paused {self.side} with the fault", choices), chosen)
