"""A photo in a DM reaches the assistant's model as image content, once: the real Anthropic SDK
against the fake provider on 127.0.0.1 shows what a request carries."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace

from inline_snapshot import snapshot

from assistant.dm import DirectMessages
from assistant.messages import Attachment, Inbound
from tests.assistant.scripted_chat import dm
from tests.fake_provider import FakeAnthropic, Say

# the smallest valid PNG (1×1, transparent)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


class Download:
    """Stands in for the platform's download (its own tests cover Telegram's and WhatsApp's)."""

    def __init__(self, data: bytes = PNG, fails: bool = False) -> None:
        self.data = data
        self.fails = fails
        self.calls = 0

    async def __call__(self) -> bytes:
        self.calls += 1
        if self.fails:
            raise ConnectionError("media expired")
        return self.data


def photo(
    caption: str,
    download: Download,
    *,
    mime: str = "image/png",
    name: str = "screen.png",
    size: int | None = None,
) -> Inbound:
    announced = len(download.data) if size is None else size
    attachment = Attachment("photo", mime, name, announced, download)
    return replace(dm(caption), attachment=attachment)


def blocks(request: dict) -> list[dict]:
    """The content blocks of the request's user messages, newest last."""
    found: list[dict] = []
    for message in request["messages"]:
        if message["role"] == "user" and isinstance(message["content"], list):
            found += message["content"]
    return found


async def test_the_image_goes_to_the_model_once_and_the_history_keeps_its_name(
    fake_anthropic: FakeAnthropic, make_service: Callable[..., DirectMessages]
) -> None:
    service = make_service()
    fake_anthropic.script(
        Say("A blank page with a 500 in the corner."), Say("You sent a screenshot.")
    )
    [answer] = await service.handle(photo("why is this page blank?", Download()))
    assert answer.text == "A blank page with a 500 in the corner."
    first = blocks(fake_anthropic.requests[0])
    assert {"type": "text", "text": "why is this page blank?"} in first
    [image] = [b for b in first if b["type"] == "image"]
    assert image["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": base64.b64encode(PNG).decode(),
    }

    await service.handle(dm("what did I send you?"))
    later = json.dumps(fake_anthropic.requests[1])
    # the next turn does not pay for the image again: it sees what was sent, not the bytes
    assert '"type": "image"' not in later and base64.b64encode(PNG).decode() not in later
    assert "[image screen.png, 1 KB]" in later
    stored = service.store.connection.execute("SELECT messages_json FROM conversations").fetchone()
    assert base64.b64encode(PNG).decode() not in stored[0]


async def test_images_past_the_limit_or_of_other_types_are_refused_before_download(
    fake_anthropic: FakeAnthropic, make_service: Callable[..., DirectMessages]
) -> None:
    service = make_service()
    download = Download()
    big = photo("", download, size=6 * 1024 * 1024)
    heic = photo("", download, mime="image/heic", name="IMG_0001.HEIC")
    replies = [(await service.handle(m))[0].text for m in (big, heic)]
    assert replies == snapshot(
        [
            "🖼 screen.png is 6.0 MB; the model takes images up to 3.8 MB. Send a smaller one (a photo rather than a file).",
            "🖼 I can't show IMG_0001.HEIC (image/heic) to the model; send a JPEG, PNG, GIF or WebP image (a screenshot works).",
        ]
    )
    # a platform that did not announce the size: checked once downloaded
    unannounced = Download(b"x" * (4 * 1024 * 1024))
    attachment = Attachment("photo", "image/jpeg", "huge.jpg", None, unannounced)
    [answer] = await service.handle(replace(dm(""), attachment=attachment))
    assert answer.text.startswith("🖼 huge.jpg is 4.0 MB; the model takes images up to 3.8 MB")
    [answer] = await service.handle(photo("", Download(fails=True)))
    assert answer.text == "🖼 I couldn't download screen.png; send it again."
    assert download.calls == 0
    assert fake_anthropic.requests == []
    assert service.conversations.load("telegram:111") == []


async def test_a_model_that_takes_no_images_says_so_in_one_line(
    make_service: Callable[..., DirectMessages],
) -> None:
    service = make_service("offline")
    download = Download()
    [answer] = await service.handle(photo("what is this?", download))
    assert answer.text == snapshot(
        "🖼 This model (foreman-offline-policy) can't look at images; describe it in words, or set FOREMAN_MODEL to a model that can (e.g. anthropic:claude-sonnet-4-5)."
    )
    assert download.calls == 0
