"""Protocol-aware replay: the I/O around ``wsdsp.replay``.

``dspscope replay server`` plays the scan server a capture recorded (to test
a device); ``dspscope replay client`` plays the devices (to regression-test
a scan server).  The protocol logic (matching, regenerated addressing,
JobToken mapping, semantic comparison) is ``wsdsp.replay``'s; these modules
read captures and move bytes.

API for embedding (the viewer, tests) — all async functions run on the
caller's event loop; nothing here touches the terminal:

``addons.replay.load``
    ``load_captures(paths) -> wsdsp.replay.Capture``   (raises CaptureError)
    ``recorded_flows(flows) -> list[Recorded]``          HTTPFlows or Recorded
    ``recorded_of(flow, index) -> Recorded``

``addons.replay.client``
    ``await replay_exchange(flow, target_url, options=None) -> ExchangeResult``
        one request sent again, its answer compared with the recorded one.
        A job's later request needs its job: prefer ``replay_flows``.
    ``await replay_flows(flows, target_url, options=None, on_result=None) -> Report``
        a whole job (or any selection, or a capture): requests in recorded
        order, fresh MessageIDs, live JobTokens carried into later requests.
    ``target_url``: the server's origin (``https://srv:5362``: recorded
    paths, ids learned from the live discovery/metadata answers), or its
    WS-DSP endpoint (``https://srv:5362/ScanServer/<id>``: WS-DSP requests
    go there; use this for a job picked without its discovery exchanges).
    ``await replay_capture(capture, target_url, options=None, on_result=None) -> Report``
    ``ClientOptions(speed="max"|"recorded", concurrency=4, ssl=True|False|SSLContext,
    notify_host=None, events=True, event_wait=10.0, latency_threshold=1.0 (s),
    ignore=(fnmatch field paths,), request_timeout=120.0)``
    ``on_result(ExchangeResult)`` is called as each exchange completes.

``wsdsp.replay`` (results, all frozen)
    ``Report``: ``.ok``, ``.results: tuple[ExchangeResult]``,
    ``.event_differences``, ``.differing``, ``.skipped``, ``.to_json()``.
    ``ExchangeResult``: ``.recorded`` (Recorded: ``.id`` = the flow id,
    ``.request``/``.response`` decoded Messages, ``.status``, ``.duration``),
    ``.sent`` (the Message sent), ``.live`` (the live answer, decoded),
    ``.status``, ``.latency`` (s), ``.error`` (transport), ``.ok``,
    ``.differences: tuple[Difference]``, ``.to_json()``.
    ``Difference``: ``.kind`` (status, kind, fault-appeared, fault-vanished,
    fault-changed, field-changed, field-added, field-removed, relates-to,
    latency, no-response, transport, event-missing, event-unexpected),
    ``.path`` (e.g. "CreatePostScanJobResponse/JobToken"), ``.recorded``,
    ``.live``, ``.severity`` ("error" = behaviour differs; "warning" = a
    note, e.g. latency), ``.text()``, ``.to_json()``.  Recorded and live
    values are captured data: show them as plain text, never markup.

``addons.replay.server``
    ``ReplayServer(capture, host=, port=0, tls_on=True, cert=, key=,
    fresh_tokens=False, keys=(xpath,), timing="none"|"recorded",
    unmatched="fault"|"404"|"forward", forward=URL, log=callable)``;
    ``async with`` it, or ``await start()`` / ``await stop()``;
    ``.url``, ``.matched``, ``.replay.unmatched``, ``.events.sent``,
    ``await idle()`` (due events sent).

``addons.replay.report``
    ``lines(report) -> Iterator[str]`` (human), ``junit(report) -> bytes``.
"""
