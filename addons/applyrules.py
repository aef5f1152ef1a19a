"""The rules addon: applies the rule files' rules to live traffic.

``rules/`` decides what happens to each message; this addon asks it for
each request, event and response, and has ``RuleActions`` (actions.py) do
it: faults and answers in the server's place, rewrites, drops, delays and
broken connections.  It runs right after ``Decode`` and reads the decoded
messages from it, never decoding again; ``Track`` runs after it and records
what really crossed the wire.

* Rule files come from the ``dspscope_rules`` option and are reloaded when
  they change (``RuleFiles``, rulefiles.py).
* Each applied rule is recorded in ``flow.metadata["dspscope"]["rules"]``;
  an edited or replaced body's original is kept under ``["original"]``.
* A rule that fails changes nothing: the flow goes on as without it.

The viewer's rules panel calls ``rule_list``, ``set_enabled``, ``reload``,
``presets`` and ``load_preset``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from mitmproxy import ctx, exceptions, http

from dspscope import rules
from dspscope.addons import bodies, decoded, events
from dspscope.addons.actions import RuleActions
from dspscope.addons.rulefiles import RuleFiles
from dspscope.rules.engine import RuleStatus, Subject
from dspscope.rules.presets import Preset
from dspscope.rules.spec import Side
from dspscope.wsdsp import Message

OPTION = "dspscope_rules"
NAME = "dspscope_rules"


class ApplyRules:
    name = NAME

    def __init__(self) -> None:
        self.engine = rules.Engine()
        self.rule_files = RuleFiles(self.engine)
        self.actions = RuleActions()
        self._watcher: asyncio.Task[None] | None = None

    @property
    def errors(self) -> dict[str, str]:
        """File -> why its current version is not in use."""
        return self.rule_files.errors

    @property
    def failures(self) -> int:
        """Rules that failed while being applied (their flows passed without them)."""
        return self.actions.failures

    # ------------------------------------------------------------- options

    def load(self, loader: Any) -> None:
        loader.add_option(
            OPTION, Sequence[str], [],
            "Rule files (YAML) of faults and rewrites to apply; reloaded when they change. "
            "Check one with 'dspscope rules check FILE'.",
        )

    def configure(self, updated: set[str]) -> None:
        if OPTION not in updated:
            return
        unusable = self.rule_files.use(getattr(ctx.options, OPTION))
        if unusable:
            raise exceptions.OptionsError("\n".join(unusable))

    def running(self) -> None:
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self.rule_files.watch())

    def done(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        self.actions.release()

    def client_disconnected(self, client: Any) -> None:
        self.actions.release(client.id)

    # ------------------------------------------------------ for the viewer

    def rule_list(self) -> list[RuleStatus]:
        """(name, enabled, hits, description) of every rule, in order."""
        return self.engine.status()

    def set_enabled(self, name: str, enabled: bool) -> bool:
        """Switch a rule on or off until its file changes; False if unknown."""
        return self.engine.set_enabled(name, enabled)

    def presets(self) -> list[Preset]:
        return rules.list_presets()

    def load_preset(self, name: str) -> None:
        """Add a shipped preset to the rule files (ValueError if unknown or bad)."""
        try:
            path = str(rules.find_preset(name).path)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        current = list(getattr(ctx.options, OPTION))
        if path not in [os.path.abspath(p) for p in current]:
            try:
                ctx.options.update(**{OPTION: [*current, path]})
            except exceptions.OptionsError as exc:
                raise ValueError(str(exc)) from None

    def reload(self, *, force: bool = True) -> dict[str, str]:
        """Read the rule files again (only changed ones unless ``force``);
        returns the errors of the files that could not be used."""
        return self.rule_files.reload(force=force)

    # --------------------------------------------------------------- hooks

    async def request(self, flow: http.HTTPFlow) -> None:
        if self.engine.rules and flow.response is None:
            await self._handle(flow, "request")

    async def response(self, flow: http.HTTPFlow) -> None:
        if self.engine.rules and flow.response is not None and not self.actions.answered(flow):
            await self._handle(flow, "response")

    async def _handle(self, flow: http.HTTPFlow, hook: str) -> None:
        try:
            found = _subject(flow, hook)
            if found is None:
                return
            subject, request = found
            decision = self.engine.decide(subject)
        except Exception as exc:  # noqa: BLE001 - fail open
            decoded.report_error(flow, "rules", exc)
            return
        await self.actions.apply(flow, subject.side, decision, request)


def _subject(flow: http.HTTPFlow, hook: str) -> tuple[Subject, Message] | None:
    """What the rules see of the flow's request (or event) or response, and
    the decoded request; None for the device's answer to an event and for a
    streamed body."""
    request = decoded.message(flow, "request")
    side: Side
    wire: http.Message
    if hook == "request":
        side, message, wire = ("event" if request.kind == "event" else "request"), request, flow.request
    elif request.kind == "event" or flow.response is None:
        return None
    else:
        side, message, wire = "response", decoded.message(flow, "response"), flow.response
    if wire.stream or wire.raw_content is None:
        return None  # streamed through (stream_large_bodies): already on its way, nothing to change
    subject = Subject(
        side, request.operation or message.operation, device=_device(flow, side),
        job_token=request.job_token or message.job_token, message_id=message.message_id,
        request_message_id=request.message_id if side == "response" else None,
        content=bodies.body_of(wire) or b"", content_type=wire.headers.get("content-type"),
    )
    if side == "response":  # request_xpath: a response rule may test the request it answers
        subject.request_content = bodies.body_of(flow.request) or b""
        subject.request_content_type = flow.request.headers.get("content-type")
    return subject, request


def _device(flow: http.HTTPFlow, side: Side) -> str | None:
    """The device: the client of an exchange, the receiver of an event."""
    if side == "event":
        path = flow.request.path
        if path.startswith(events.PREFIX):
            sink = events.sink_address(path[len(events.PREFIX):].partition("?")[0])
            if sink:
                return urlsplit(sink).hostname
        return flow.request.host
    peer = flow.client_conn.peername
    return str(peer[0]) if peer else None
