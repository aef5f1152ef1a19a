"""The dspscope viewer: a Textual app over a Session, fed by a Source.

The app owns the session (flows, store) and applies what the source's
threads left in the inbox every ``FLUSH_EVERY`` seconds, in one go.  Screens
show and act; captured text reaches the terminal only through viewer.safe.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from dspscope.viewer.commands import ViewerCommands
from dspscope.viewer.inbox import Inbox
from dspscope.viewer.messages import InterceptChanged, LogLines, Progress, ProxyState, RowsChanged
from dspscope.viewer.safe import printable
from dspscope.viewer.screens.help import HelpScreen
from dspscope.viewer.screens.main import MainScreen
from dspscope.viewer.session import Session
from dspscope.viewer.sources import Source
from dspscope.viewer.store import Row

FLUSH_EVERY = 0.1
#: At most this many exchanges are applied per flush, so a huge capture
#: loads while the UI keeps answering keys.
FLUSH_LIMIT = 5_000
#: New rows between two freezes of the heap (see ``flush``).
FREEZE_EVERY = 2_000


class DspscopeApp(App[None]):
    TITLE = "dspscope"
    CSS_PATH = ["app.tcss", "widgets/widgets.tcss"]
    COMMANDS = App.COMMANDS | {ViewerCommands}
    HELP_TITLE = "everywhere"  # its group in the help screen
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+s", "save", "Save capture"),
        Binding("x", "export", "Export", show=False),
        Binding("i", "intercept", "Intercept"),
        Binding("I", "intercept_off", "Intercept off", show=False),
        Binding("F", "forward_all", "Forward all paused", show=False),
        Binding("r", "replay", "Replay"),
        Binding("T", "toggle_theme", "Dark/light", show=False),
    ]

    def __init__(self, source: Source, *, flush_every: float = FLUSH_EVERY) -> None:
        super().__init__()
        self.source = source
        self.session = Session()
        self.inbox = Inbox()
        self.flush_every = flush_every
        self.paused: set[str] = set()
        self._unfrozen = 0
        self.intercept_filter: str | None = None
        self.main: MainScreen | None = None

    # ------------------------------------------------------- what the UI reads

    @property
    def rules(self):  # type: ignore[no-untyped-def]
        return self.source.rules

    @property
    def source_title(self) -> str:
        return self.source.title

    @property
    def source_kind(self) -> str:
        return {"demo": "demo", "live": "live proxy", "capture": "capture"}.get(
            self.source.kind, self.source.kind)

    @property
    def paused_count(self) -> int:
        return len(self.paused)

    def say(self, text: str, severity: str = "information") -> None:
        """A toast with captured text in it, shown literally."""
        self.notify(printable(text, limit=500), severity=severity, markup=False)  # type: ignore[arg-type]

    # --------------------------------------------------------------- lifecycle

    def on_mount(self) -> None:
        self.main = MainScreen()
        self.push_screen(self.main)
        self.set_interval(self.flush_every, self.flush)
        self.source.start(self.inbox)
        for text, severity in self.source.notices:
            self.inbox.notice(text, severity)
        self.call_after_refresh(self.flush)

    async def action_quit(self) -> None:
        self.source.stop()
        self.exit()

    def flush(self) -> None:
        """Apply what arrived since the last flush."""
        main = self.main
        if main is None or not main.is_mounted:
            return
        delivery = self.inbox.take(FLUSH_LIMIT)
        changed = False
        store = self.session.store
        for batch in delivery.batches:
            for _flow, row, _location in batch.items:
                if row.id in store.by_id:
                    changed = True
                if row.paused:
                    self.paused.add(row.id)
                else:
                    self.paused.discard(row.id)
            self.session.add_batch(batch)
        if delivery.logs:
            main.post_message(LogLines([(line.level, line.text, line.stamp) for line in delivery.logs]))
        for text, severity in delivery.notices:
            self.say(text, severity)
        if delivery.state is not None:
            main.post_message(ProxyState(*delivery.state))
        if delivery.progress is not None:
            main.post_message(Progress(delivery.progress))
        self._unfrozen += sum(len(batch.items) for batch in delivery.batches)
        if self._unfrozen >= FREEZE_EVERY:
            # Rows live as long as the session: keep the cyclic collector from
            # walking all of them again and again (seconds at 100k).  All the
            # garbage since the last freeze is collected first (frozen, it
            # would never be), which costs little: the rest is frozen.
            self._unfrozen = 0
            gc.collect()
            gc.freeze()
        if delivery.batches or delivery.progress is not None:
            message = RowsChanged(len(store.rows), len(store.view), changed)
            main.post_message(message)
            if self.screen is not main:
                self.screen.post_message(RowsChanged(len(store.rows), len(store.view), changed))

    # ----------------------------------------------------------------- screens

    def open_job(self, token: str) -> None:
        from dspscope.viewer.screens.job import JobScreen

        job = self.session.store.tracker.job(token)
        if job is None:
            self.say(f"No job {token} in this session.", "warning")
            return
        self.push_screen(JobScreen(job))

    def open_intercept(self, row: Row) -> None:
        from dspscope.viewer.screens.intercept import InterceptScreen

        flow = self.session.flow(row)
        if flow is None or self.source.intercept is None:
            return
        self.push_screen(InterceptScreen(row, flow, self.source.intercept))

    def current_row(self) -> Row | None:
        finder = getattr(self.screen, "current_row", None)
        return finder() if callable(finder) else None

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    # ------------------------------------------------------------ intercept

    def action_intercept(self) -> None:
        from dspscope.viewer.screens.prompt import Prompt

        if self.source.intercept is None:
            self.say("Intercept needs a live proxy (dspscope demo or dspscope tui).", "warning")
            return
        current = self.intercept_filter
        if current is None and self.main is not None:
            current = self.main.filter_text

        def chosen(text: str | None) -> None:
            if text is None:
                return
            self.set_intercept(text)

        self.push_screen(Prompt("Pause requests and responses matching (filter language; "
                                "is:request or is:response for one side; empty: everything)",
                                current or "", "enter: start intercepting   escape: cancel"), chosen)

    def set_intercept(self, text: str | None) -> None:
        from dspscope.viewer.filters import FilterError, parse

        control = self.source.intercept
        if control is None:
            return
        if text is not None:
            try:
                parse(text)
            except FilterError as exc:
                self.say(f"intercept: {exc}", "error")
                return
        control.set_filter(text)
        self.intercept_filter = text
        if self.main is not None:
            self.main.post_message(InterceptChanged(text))
        self.say("Intercept off." if text is None else
                 f"Intercepting requests and responses matching: {text or 'everything'}")

    def action_intercept_off(self) -> None:
        self.set_intercept(None)

    def action_forward_all(self) -> None:
        if self.source.intercept is not None:
            count = self.source.intercept.forward_all()
            self.say(f"Forwarded {count} paused message(s).")

    # ---------------------------------------------------------------- replay

    def action_replay(self) -> None:
        from dspscope.viewer.screens.replay import ReplayScreen

        row = self.current_row()
        flow = self.session.flow(row) if row is not None else None
        if row is None or flow is None:
            self.say("Select an exchange to replay.", "warning")
            return
        if row.kind == "event" or row.pending:
            self.say("Only finished device requests can be replayed.", "warning")
            return
        self.push_screen(ReplayScreen(row, flow, tls=self.source.replay_tls))

    # ------------------------------------------------------- save and export

    def _default_name(self, suffix: str) -> str:
        return f"dspscope-{time.strftime('%Y%m%d-%H%M%S')}{suffix}"

    def action_save(self) -> None:
        from dspscope.viewer.screens.prompt import Prompt

        def chosen(path: str | None) -> None:
            if path:
                self._save(path)

        self.push_screen(Prompt("Save the session as a mitmproxy capture", self._default_name(".mitm"),
                                "every exchange of the session, readable by dspscope open and "
                                "mitmproxy -r"), chosen)

    def _save(self, path: str) -> None:
        def work() -> None:
            try:
                count = self.session.save(Path(path).expanduser())
            except OSError as exc:
                self.call_from_thread(self.say, f"cannot save {path}: {exc.strerror or exc}", "error")
                return
            self.call_from_thread(self.say, f"Saved {count:,} exchanges to {path}")

        self.run_worker(work, thread=True, group="save")

    def action_export(self) -> None:
        from dspscope.viewer.screens.prompt import Prompt

        def chosen(path: str | None) -> None:
            if path:
                self._export(path)

        self.push_screen(Prompt("Export the exchanges the filter shows (.jsonl or .har)",
                                self._default_name(".jsonl"),
                                "the name's suffix picks the format: .jsonl (dspscope records) "
                                "or .har"), chosen)

    def _export(self, path: str) -> None:
        from dspscope.viewer.export import export

        rows = [self.session.store.rows[i] for i in self.session.store.view]

        def work() -> None:
            try:
                count = export(self.session, rows, Path(path).expanduser())
            except (OSError, ValueError) as exc:
                reason = getattr(exc, "strerror", None) or exc
                self.call_from_thread(self.say, f"cannot export to {path}: {reason}", "error")
                return
            self.call_from_thread(self.say, f"Exported {count:,} exchanges to {path}")

        self.run_worker(work, thread=True, group="export")

    def action_save_attachment(self, flow: object, info: object) -> None:
        from dspscope.exports import output_file
        from dspscope.viewer.detail_text import attachment_bytes
        from dspscope.viewer.screens.prompt import Prompt

        name = Path(str(getattr(info, "content_id", "") or "attachment")).name
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "attachment"
        extension = {"png": ".png", "jfif": ".jpg", "exif": ".jpg", "pdf-a": ".pdf"}.get(
            str(getattr(info, "sniffed", "")), ".bin")

        def chosen(path: str | None) -> None:
            if not path:
                return
            try:
                data = attachment_bytes(flow, info)  # type: ignore[arg-type]
                with output_file(Path(path).expanduser(), binary=True) as out:  # a scan: owner-only
                    out.write(data)
            except OSError as exc:
                self.say(f"cannot save {path}: {exc.strerror or exc}", "error")
                return
            self.say(f"Saved {len(data):,} bytes to {path}")

        self.push_screen(Prompt("Save the attachment to", name + extension), chosen)
