"""The Attachments tab: each MTOM part with its size, hash and formats,
and a preview of the scanned page drawn with half blocks."""

from __future__ import annotations

from mitmproxy import http
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from dspscope.viewer.detail_text import AttachmentInfo, attachment_bytes, attachment_summary
from dspscope.viewer.preview import halfblocks, load
from dspscope.viewer.safe import literal

PREVIEW_COLUMNS = 80
PREVIEW_ROWS = 40


class Attachments(VerticalScroll):
    """``n``/``p`` pick the attachment, ``s`` saves it (through the app)."""

    HELP_TITLE = "attachments tab"  # its group in the help screen
    BINDINGS = [
        ("n", "pick(1)", "Next attachment"),
        ("p", "pick(-1)", "Previous attachment"),
        ("s", "save", "Save attachment"),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.flow: http.HTTPFlow | None = None
        self.items: list[AttachmentInfo] = []
        self.index = 0
        #: The attachment whose preview is on screen (None while drawing).
        self.drawn: AttachmentInfo | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="attachment-summary")
        yield Static(id="attachment-preview")

    def show(self, flow: http.HTTPFlow | None, items: list[AttachmentInfo]) -> None:
        self.flow = flow
        self.items = items
        self.index = 0
        self._render_current()

    def action_pick(self, step: int) -> None:
        if self.items:
            self.index = (self.index + step) % len(self.items)
            self._render_current()

    def action_save(self) -> None:
        if self.items and self.flow is not None:
            info = self.items[self.index]
            self.app.action_save_attachment(self.flow, info)  # type: ignore[attr-defined]

    def _render_current(self) -> None:
        summary = self.query_one("#attachment-summary", Static)
        preview = self.query_one("#attachment-preview", Static)
        if not self.items:
            summary.update(Text("No attachments.", style="dim"))
            preview.update("")
            return
        info = self.items[self.index]
        head = Text(f"attachment {self.index + 1} of {len(self.items)}"
                    + ("   n/p: next/previous" if len(self.items) > 1 else "")
                    + "   s: save to a file\n", style="dim")
        head.append_text(attachment_summary(info))
        summary.update(head)
        preview.update(Text("drawing preview…", style="dim"))
        self.drawn = None
        width = self.size.width or self.app.size.width
        self._draw(info, max(10, min(PREVIEW_COLUMNS, width - 4)))

    @work(thread=True, exclusive=True, group="preview")
    def _draw(self, info: AttachmentInfo, columns: int) -> None:
        flow = self.flow
        if flow is None:
            return
        try:
            image, about = load(attachment_bytes(flow, info), info.sniffed)
            picture = halfblocks(image, columns, PREVIEW_ROWS)
            picture.append("\n")
            picture.append(about, style="dim")
            result: Text = picture
        except ValueError as exc:
            result = literal(str(exc), style="dim")
        self.app.call_from_thread(self._show_preview, info, result)

    def _show_preview(self, info: AttachmentInfo, picture: Text) -> None:
        if self.items and self.items[self.index] is info:
            self.query_one("#attachment-preview", Static).update(picture)
            self.drawn = info
