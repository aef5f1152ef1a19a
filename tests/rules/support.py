"""Messages and subjects for the rule engine tests, built with wsdsp.build."""

from __future__ import annotations

from dspscope.rules import Engine, RuleSet, Subject, parse
from dspscope.wsdsp import AttachmentData, Message, build, encode

ENDPOINT = "https://scan.example.test:5362/ScanServer/0b8e4a8e-2d0a-4c8e-9d4e-2f1f9b1c5a77"
USER = "S-1-5-21-1004336348-1177238915-682003330-512"
PSP = "9e3b5a6c-1d2f-4b8a-8c7e-5f0a1b2c3d4e"
TOKEN = "5c0ffee0-1234-4abc-8def-0123456789ab"
OTHER = "0dd0dd00-1234-4abc-8def-0123456789ab"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def rules_of(text: str, seed: int | None = 7) -> RuleSet:
    head = f"seed: {seed}\n" if seed is not None else ""
    return parse(head + "rules:\n" + text)


def engine(text: str, seed: int | None = 7) -> Engine:
    return Engine([rules_of(text, seed)])


def send_image(token: str = TOKEN, document_id: int = 1) -> Message:
    return build.send_image(to=ENDPOINT, token=token, document_id=document_id, format="png",
                            content_id=f"page{document_id}@test")


def create() -> Message:
    return build.create_post_scan_job(to=ENDPOINT, user=USER, psp_id=PSP)


def subject(message: Message, side: str = "request", *, device: str | None = "10.0.0.7",
            request: Message | None = None, attachments: tuple[AttachmentData, ...] = ()) -> Subject:
    """The Subject the proxy would make of ``message`` on ``side``."""
    encoded = encode(message, attachments)
    operation = message.operation if request is None else request.operation
    token = message.job_token or (request.job_token if request is not None else None)
    return Subject(
        side,  # type: ignore[arg-type]
        operation,
        device=device,
        job_token=token,
        message_id=message.message_id,
        request_message_id=request.message_id if request is not None else None,
        content=encoded.content,
        content_type=encoded.content_type,
        request_content=encode(request).content if request is not None else b"",
        request_content_type=encode(request).content_type if request is not None else None,
    )


def fired(e: Engine, s: Subject) -> list[str]:
    return [f.rule.name for f in e.decide(s).firings]
