"""A photo in a DM as image content for the assistant's model: checked, bounded, never kept.

The router lets only images through to the assistant (other files get one line there). Here an
image is refused, before anything is downloaded where possible, when the model cannot look at
images, when its type is one the providers do not take, or when it is past the providers' size
limit. The conversation history keeps a placeholder, not the bytes (see `conversations`), so
an image is paid for in the turn it was sent in, never again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.conversations import size_text
from assistant.messages import Inbound

if TYPE_CHECKING:
    from pydantic_ai.messages import UserContent
    from pydantic_ai.models import Model

# what Anthropic's and OpenAI's models both take
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# Anthropic refuses an image whose base64 form passes 5 MB (OpenAI takes more), and with it the
# whole turn: 5 MB of base64 is 3.75 MB of image
IMAGE_MAX_BYTES = 5 * 1024 * 1024 * 3 // 4
SUGGESTED_MODEL = "anthropic:claude-sonnet-4-5"


class ImageRefused(Exception):
    """The image cannot go to the model; the one line that says why and what to do."""


def check_model(model: Model) -> None:
    """Refuse before anything is downloaded when the model takes no images (offline does not)."""
    if not model.profile.get("supports_image_input", True):
        raise ImageRefused(
            f"🖼 This model ({model.model_name}) can't look at images; describe it in words, "
            f"or set FOREMAN_MODEL to a model that can (e.g. {SUGGESTED_MODEL})."
        )


async def image_prompt(message: Inbound) -> list[UserContent]:
    """The caption (if any) and the image, as one user prompt; raises `ImageRefused`."""
    from pydantic_ai import BinaryContent

    attachment = message.attachment
    assert attachment is not None
    name = attachment.filename
    if attachment.mime not in IMAGE_TYPES:
        raise ImageRefused(
            f"🖼 I can't show {name} ({attachment.mime}) to the model; "
            "send a JPEG, PNG, GIF or WebP image (a screenshot works)."
        )
    _check_size(name, attachment.size)
    try:
        data = await attachment.fetch()
    except Exception as exc:  # the platform's client: any failure means "not downloaded"
        raise ImageRefused(f"🖼 I couldn't download {name}; send it again.") from exc
    _check_size(name, len(data))
    caption = message.text.strip()
    image = BinaryContent(data, media_type=attachment.mime, identifier=name)
    return [caption, image] if caption else [image]


def _check_size(name: str, size: int | None) -> None:
    if size is not None and size > IMAGE_MAX_BYTES:
        raise ImageRefused(
            f"🖼 {name} is {size_text(size)}; the model takes images up to "
            f"{size_text(IMAGE_MAX_BYTES)}. Send a smaller one (a photo rather than a file)."
        )
