"""Apply the rule engine's decisions to live traffic.

``rules/`` decides what happens to each message; this addon does it: waits,
answers in the server's place (the server is then never contacted), edits
bodies, drops events, and breaks connections (faultwire.py).  It runs right
after ``Decode`` and reads the decoded messages from it, never decoding
again; ``Track`` runs after it and records what really crossed the wire.

* Rule files come from the ``dspscope_rules`` option and are reloaded when
  they change; a file that turns bad keeps its last good rules, and the
  error is logged and kept in ``errors``.
* Each applied rule is recorded in ``flow.metadata["dspscope"]["rules"]``;
  an edited or replaced body's original is kept under ``["original"]``.
* A rule that fails while being applied changes nothing: the exchange goes
  on as without it, and the failure is logged and recorded on the flow.

The viewer's rules panel calls ``rule_list``, ``set_enabled``, ``reload``,
``presets`` and ``load_preset``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from mitmproxy import ctx, exceptions, http
from mitmproxy.net.http.http1 import assemble_response_head

from dspscope import rules
from dspscope.addons import bodies, decoded, events, faultwire, metadata
from dspscope.rules.engine import Decision, Firing, RuleStatus, Subject
from dspscope.rules.presets import Preset
from dspscope.rules.spec import Rule, RuleSet, Side
from dspscope.wsdsp import Message

logger = logging.getLogger(__name__)

OPTION = "dspscope_rules"
POLL_SECONDS = 1.0
#: Bodies above this size are edited in a worker thread.
THREAD_THRESHOLD = 1 << 20


class Faults:
    name = "dspscope_faults"

    def __init__(self) -> None:
        self.engine = rules.Engine()
        self.files: list[str] = []
        self.sets: dict[str, RuleSet] = {}
        #: File -> why its current version is not in use.
        self.errors: dict[str, str] = {}
        self.failures = 0
        self._stamps: dict[str, tuple[int, int] | None] = {}
        self._hung: dict[str, tuple[asyncio.Event, str]] = {}
        self._answered: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()
        self._poller: asyncio.Task[None] | None = None

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
        self.files = [os.path.abspath(os.path.expanduser(p)) for p in getattr(ctx.options, OPTION)]
        self.reload()
        unusable = [f for f in self.files if f in self.errors and f not in self.sets]
        if unusable:
            raise exceptions.OptionsError("\n".join(_one_line(self.errors[f], f) for f in unusable))

    def running(self) -> None:
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    def done(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        for release, _ in list(self._hung.values()):
            release.set()

    def client_disconnected(self, client: Any) -> None:
        for release, client_id in list(self._hung.values()):
            if client_id == client.id:
                release.set()

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
        changed = False
        for path in self.files:
            stamp = _stamp(path)
            if not force and path in self._stamps and stamp == self._stamps[path]:
                continue
            self._stamps[path] = stamp
            try:
                loaded = rules.load(path)
            except rules.RuleFileError as exc:
                self.errors[path] = str(exc)
                kept = " (keeping its last good rules)" if path in self.sets else ""
                for error in exc.errors:  # one line each: consoles show the first line of a record
                    logger.error("rules: %s%s", error, kept)
                continue
            self.sets[path] = loaded
            self.errors.pop(path, None)
            changed = True
            logger.info("rules: %d rule(s) from %s", len(loaded.rules), path)
            if not loaded.seed_given and any(_random(r) for r in loaded.rules):
                logger.warning("rules: %s has no seed; this run uses seed %d (add 'seed: %d' to repeat it)",
                               path, loaded.seed, loaded.seed)
        for path in list(self.sets):
            if path not in self.files:
                del self.sets[path]
                changed = True
        if changed or force:
            self._install()
        return {p: e for p, e in self.errors.items() if p in self.files}

    def _install(self) -> None:
        chosen: list[RuleSet] = []
        owner: dict[str, str] = {}
        for path in self.files:
            rule_set = self.sets.get(path)
            if rule_set is None:
                continue
            clash = next((r.name for r in rule_set.rules if r.name in owner), None)
            if clash is not None:
                self.errors[path] = f"{path}: rule name {clash!r} is also used in {owner[clash]}; not loaded"
                logger.error("rules: %s", self.errors[path])
                continue
            owner.update((r.name, path) for r in rule_set.rules)
            chosen.append(rule_set)
        self.engine.replace(chosen)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                self.reload(force=False)
            except Exception:  # noqa: BLE001 - keep polling whatever happens
                logger.exception("rules: reload failed")

    # --------------------------------------------------------------- hooks

    async def request(self, flow: http.HTTPFlow) -> None:
        if self.engine.rules and flow.response is None:
            await self._handle(flow, "request")

    async def response(self, flow: http.HTTPFlow) -> None:
        if self.engine.rules and flow.response is not None and flow not in self._answered:
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
        await self._apply(flow, subject.side, decision, request)

    # ------------------------------------------------------------- acting

    async def _apply(self, flow: http.HTTPFlow, side: Side, decision: Decision, request: Message) -> None:
        for rule, problem in decision.errors:
            self._failed(flow, {"name": rule.name, "action": "+".join(rule.action.names),
                                "side": side, "detail": "not evaluated"}, problem)
        shaping: list[tuple[Firing, dict[str, Any]]] = []
        for firing in decision.firings:
            record = firing.record()
            _meta(flow).setdefault("rules", []).append(record)
            try:
                ended = await self._act(flow, side, firing, request)
            except Exception as exc:  # noqa: BLE001 - a failed rule leaves traffic alone
                self._failed(flow, record, _explain(exc))
                continue
            if ended:
                return
            if firing.rule.action.transport is not None:
                shaping.append((firing, record))
        for firing, record in shaping:
            try:
                self._shape(flow, firing)
            except Exception as exc:  # noqa: BLE001
                self._failed(flow, record, _explain(exc))

    async def _act(self, flow: http.HTTPFlow, side: Side, firing: Firing, request: Message) -> bool:
        """Do one firing's actions (all but truncate/throttle); True if the
        exchange ended here.  Everything that can fail is worked out before
        the flow is touched, so a failure leaves it as it was."""
        action = firing.rule.action
        transport = action.transport
        if transport is not None and transport.kind == "reset":
            faultwire.client_io(flow)  # no connection to reset: fail now, not after the delay
        answer, edited = await self._prepare(flow, side, firing, request)
        if firing.delay:
            await asyncio.sleep(firing.delay)
        if action.drop:
            flow.response = http.Response.make(202, b"")
            self._answered.add(flow)
            return True
        if transport is not None and transport.kind in ("reset", "close", "hang"):
            await self._end(flow, transport.kind)
            return True
        target = flow.response if side == "response" else flow.request
        if answer is not None:
            if side == "response":
                _keep_original(flow, "response", flow.response)
            else:
                self._answered.add(flow)
            if edited is not None:
                answer.content = edited
            flow.response = answer
        elif edited is not None and target is not None:
            _keep_original(flow, "response" if side == "response" else "request", target)
            target.content = edited
        return False

    async def _prepare(self, flow: http.HTTPFlow, side: Side, firing: Firing, request: Message
                       ) -> tuple[http.Response | None, bytes | None]:
        """(the answer to send instead, the edited body) -- None for none."""
        action = firing.rule.action
        answer = None
        if action.fault is not None or action.status is not None:
            made = (rules.fault_answer(action.fault, request) if action.fault is not None
                    else rules.status_answer(action.status))  # type: ignore[arg-type]
            answer = http.Response.make(made.status, made.content,
                                        [(k.encode(), v.encode()) for k, v in made.headers])
        base = answer if answer is not None else (flow.response if side == "response" else flow.request)
        if not action.edits or base is None:
            return answer, None
        # Bounded: get_content() would turn a 1 MB gzip bomb into 1 GB here.
        content = bodies.body_of(base)
        if content is None and base.raw_content:
            raise rules.EditError("its Content-Encoding was not undone (over "
                                  f"{bodies.DECODED_LIMIT >> 20} MB, damaged or unknown), so it "
                                  "cannot be edited")
        content = content or b""
        args = (content, base.headers.get("content-type"), action)
        if len(content) > THREAD_THRESHOLD:
            edited = await asyncio.to_thread(rules.edit_body, *args, duplicate_id=firing.duplicate_id)
        else:
            edited = rules.edit_body(*args, duplicate_id=firing.duplicate_id)
        return answer, (edited if edited != content else None)

    async def _end(self, flow: http.HTTPFlow, kind: str) -> None:
        if kind == "reset":
            faultwire.reset(flow)  # WireError: nothing was done, the exchange goes on
        elif kind == "hang":
            release = asyncio.Event()
            self._hung[flow.id] = (release, flow.client_conn.id)
            try:
                await release.wait()
            finally:
                self._hung.pop(flow.id, None)
        if flow.killable:
            flow.kill()

    def _shape(self, flow: http.HTTPFlow, firing: Firing) -> None:
        transport = firing.rule.action.transport
        response = flow.response
        if transport is None or response is None or transport.amount is None:
            return
        body = response.raw_content or b""
        if transport.kind == "truncate":
            _keep_original(flow, "response", response)
            response.headers.pop("transfer-encoding", None)
            response.headers["content-length"] = str(len(body))
            response.headers["connection"] = "close"
            response.raw_content = body[: transport.amount]
        elif transport.kind == "throttle":
            faultwire.throttle(flow, transport.amount, len(assemble_response_head(response)) + len(body))

    def _failed(self, flow: http.HTTPFlow, record: dict[str, Any], problem: str) -> None:
        self.failures += 1
        record["error"] = problem
        if record not in _meta(flow).setdefault("rules", []):
            _meta(flow)["rules"].append(record)
        logger.warning("rule %r failed on %s %s: %s (the exchange passed without it)",
                       record["name"], flow.request.method, flow.request.pretty_url, problem)


def _subject(flow: http.HTTPFlow, hook: str) -> tuple[Subject, Message] | None:
    """What the rules see of the flow's request (or event) or response, and
    the decoded request; None for the device's answer to an event and for a
    streamed body."""
    request = decoded.message(flow, "request")
    side: Side
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
    return subject, request


def _meta(flow: http.HTTPFlow) -> dict[str, Any]:
    meta = flow.metadata.get(metadata.METADATA_KEY)
    if not isinstance(meta, dict):
        meta = flow.metadata[metadata.METADATA_KEY] = {}
    return meta


def _keep_original(flow: http.HTTPFlow, key: str, message: http.Message | None) -> None:
    """Keep the body as it was before the first rule changed it (for Diff)."""
    if message is None:
        return
    original = _meta(flow).setdefault("original", {})
    if key not in original:
        body = bodies.body_of(message)  # bounded; the encoded bytes when not undone
        original[key] = (body if body is not None else message.raw_content) or b""


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


def _random(rule: Rule) -> bool:
    delay = rule.action.delay
    return rule.match.probability is not None or (delay is not None and delay.low != delay.high)


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _one_line(errors: str, path: str) -> str:
    """The first error of a file, and how to see the others."""
    lines = errors.splitlines()
    more = f" (and {len(lines) - 1} more: dspscope rules check {path})" if len(lines) > 1 else ""
    return lines[0] + more


def _explain(exc: BaseException) -> str:
    if isinstance(exc, rules.EditError | faultwire.WireError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
