"""Do what the rule engine decided for one message: wait, answer in the
server's place (the server is then never contacted), edit the body, drop an
event, or break the connection (faultwire.py).

``RuleActions.apply`` is the one entry: it records each firing in the
flow's record, and ``_act`` is the one place that turns a rule's action
into changes to the flow.  Everything that can fail is worked out before
the flow is touched, so a rule that fails changes nothing: the exchange
goes on as without it, and the failure is logged and recorded on the flow.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

from mitmproxy import http
from mitmproxy.net.http.http1 import assemble_response_head

from dspscope import rules
from dspscope.addons import bodies, faultwire, metadata
from dspscope.rules.engine import Decision, Firing
from dspscope.rules.spec import Side
from dspscope.wsdsp import Message

logger = logging.getLogger(__name__)

#: Bodies above this size are edited in a worker thread.
THREAD_THRESHOLD = 1 << 20


class RuleActions:
    """Acts on decisions; remembers the flows it answered and the ones it holds."""

    def __init__(self) -> None:
        self.failures = 0
        self._hung: dict[str, tuple[asyncio.Event, str]] = {}
        self._answered: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()

    def answered(self, flow: http.HTTPFlow) -> bool:
        """True if a rule answered this flow's request (its response is ours)."""
        return flow in self._answered

    def release(self, client_id: str | None = None) -> None:
        """Let go of the flows held by "hang" (those of one client, or all)."""
        for release, held_by in list(self._hung.values()):
            if client_id is None or held_by == client_id:
                release.set()

    def failed(self, flow: http.HTTPFlow, record: dict[str, Any], problem: str) -> None:
        """Record that a rule failed on ``flow`` (which passed without it)."""
        self.failures += 1
        record["error"] = problem
        applied = metadata.record(flow).setdefault("rules", [])
        if record not in applied:
            applied.append(record)
        logger.warning("rule %r failed on %s %s: %s (the exchange passed without it)",
                       record["name"], flow.request.method, flow.request.pretty_url, problem)

    async def apply(self, flow: http.HTTPFlow, side: Side, decision: Decision, request: Message) -> None:
        try:
            await self._apply(flow, side, decision, request)
        finally:
            meta = metadata.record(flow)
            if meta.get("rule_delay"):  # when the rules let it go (metadata.waited)
                meta["released_at"] = time.time()

    async def _apply(self, flow: http.HTTPFlow, side: Side, decision: Decision, request: Message) -> None:
        for rule, problem in decision.errors:
            self.failed(flow, {"name": rule.name, "action": "+".join(rule.action.names),
                               "side": side, "detail": "not evaluated"}, problem)
        shaping: list[tuple[rules.Plan, dict[str, Any]]] = []
        for firing in decision.firings:
            record = firing.record()
            metadata.record(flow).setdefault("rules", []).append(record)
            try:
                plan = rules.plan_of(firing.rule.action, rules.Context(
                    request=request, delay=firing.delay, duplicate_id=firing.duplicate_id))
                ended = await self._act(flow, side, plan, firing)
            except Exception as exc:  # noqa: BLE001 - a failed rule leaves traffic alone
                self.failed(flow, record, _explain(exc))
                continue
            if ended:
                return
            if plan.shape is not None:
                shaping.append((plan, record))
        for plan, record in shaping:
            try:
                _shape(flow, plan)
            except Exception as exc:  # noqa: BLE001
                self.failed(flow, record, _explain(exc))

    async def _act(self, flow: http.HTTPFlow, side: Side, plan: rules.Plan, firing: Firing) -> bool:
        """Carry out one firing's Plan (all but its shaping, done last);
        True if the exchange ended here.  No action is known by name: what
        each does is in its Plan (rules/registry.py)."""
        if plan.end == "reset":
            faultwire.client_io(flow)  # no connection to reset: fail now, not after the delay
        answer, edited = await _prepare(flow, side, plan, firing)
        if plan.hold:
            await asyncio.sleep(plan.hold)
            meta = metadata.record(flow)  # the device waits for this too
            meta["rule_delay"] = meta.get("rule_delay", 0.0) + plan.hold
        if plan.end == "drop":
            flow.response = http.Response.make(202, b"")
            self._answered.add(flow)
            return True
        if plan.end is not None:
            await self._end(flow, plan.end)
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


async def _prepare(flow: http.HTTPFlow, side: Side, plan: rules.Plan, firing: Firing
                   ) -> tuple[http.Response | None, bytes | None]:
    """(the answer to send instead, the edited body) -- None for none."""
    answer = None
    if plan.answer is not None:
        made = plan.answer
        answer = http.Response.make(made.status, made.content,
                                    [(k.encode(), v.encode()) for k, v in made.headers])
    base = answer if answer is not None else (flow.response if side == "response" else flow.request)
    if not plan.edits or base is None:
        return answer, None
    # Bounded: get_content() would turn a 1 MB gzip bomb into 1 GB here.
    content = bodies.body_of(base)
    if content is None and base.raw_content:
        raise rules.EditError("its Content-Encoding was not undone (over "
                              f"{bodies.DECODED_LIMIT >> 20} MB, damaged or unknown), so it "
                              "cannot be edited")
    content = content or b""
    args = (content, base.headers.get("content-type"), plan.edits, firing.duplicate_id)
    if len(content) > THREAD_THRESHOLD:
        edited = await asyncio.to_thread(rules.edit_message, *args)
    else:
        edited = rules.edit_message(*args)
    return answer, (edited if edited != content else None)


def _shape(flow: http.HTTPFlow, plan: rules.Plan) -> None:
    """truncate and throttle: done last, on the response that will be sent."""
    response = flow.response
    if plan.shape is None or response is None:
        return
    kind, amount = plan.shape
    body = response.raw_content or b""
    if kind == "truncate":
        _keep_original(flow, "response", response)
        response.headers.pop("transfer-encoding", None)
        response.headers["content-length"] = str(len(body))
        response.headers["connection"] = "close"
        response.raw_content = body[:amount]
    elif kind == "throttle":
        faultwire.throttle(flow, amount, len(assemble_response_head(response)) + len(body))


def _keep_original(flow: http.HTTPFlow, key: str, message: http.Message | None) -> None:
    """Keep the body as it was before the first rule changed it (for Diff)."""
    if message is None:
        return
    original = metadata.record(flow).setdefault("original", {})
    if key not in original:
        body = bodies.body_of(message)  # bounded; the encoded bytes when not undone
        original[key] = (body if body is not None else message.raw_content) or b""


def _explain(exc: BaseException) -> str:
    if isinstance(exc, rules.EditError | faultwire.WireError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
