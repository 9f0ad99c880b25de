"""The one message type every channel translates to and from.

Channels hold no business rules: they turn a platform update into an `Inbound`, and render
an `Outbound` (text plus optional choices) as buttons where the platform has them, or as
numbered replies where it does not.

User-controlled text (project titles, notes, reasons, file names, builder output) is data.
Shown as it is, it could spoof a card ("Approval abcdef: ✅ approved by @ada" on a line of its
own), reorder what a reader sees (bidi overrides) or drive a terminal (ANSI escapes).
Everything shown from such text goes through `neutral_line` (one field on one line) or
`neutral_text` (a message whose own line breaks are legitimate, e.g. a builder's reply).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Literal

Platform = Literal["telegram", "whatsapp", "terminal", "mcp", "a2a"]
# `needs_you`: the user should look now (a question, an approval, a failure); `progress`: news
# they may read later, which a channel is free to deliver without a sound
Priority = Literal["needs_you", "progress"]


@dataclass(frozen=True)
class Principal:
    """Who is speaking, authenticated by the channel (never by message content)."""

    platform: Platform
    user_id: str
    display_name: str | None = None

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True)
class ChatRef:
    """Where a message was said: a DM, a group, or a topic inside a group."""

    platform: Platform
    chat_id: str
    thread_id: str | None = None
    is_direct: bool = True

    @property
    def key(self) -> str:
        thread = f"#{self.thread_id}" if self.thread_id else ""
        return f"{self.platform}:{self.chat_id}{thread}"


AttachmentKind = Literal["voice", "photo", "document"]


@dataclass(frozen=True)
class Attachment:
    """A voice note, photo or file sent with a message; its bytes are fetched only on demand.

    Fetching lazily means nothing is downloaded for a message the router ignores (a stranger's
    voice note costs no bandwidth).
    """

    kind: AttachmentKind
    mime: str
    filename: str
    size: int | None  # bytes, as the platform announced it (None: not announced)
    fetch: Callable[[], Awaitable[bytes]] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Inbound:
    chat: ChatRef
    sender: Principal
    text: str = ""
    message_id: str | None = None
    # a button press carries the button's data instead of (or beside) text
    callback_data: str | None = None
    # a voice note, photo or document; `text` then holds its caption, if any
    attachment: Attachment | None = None


@dataclass(frozen=True)
class Choice:
    """One button (or numbered reply): `data` is what comes back when it is chosen (≤ 64 bytes)."""

    label: str
    data: str


# `action:target` or `action:target:option`; Telegram carries at most 64 bytes of it
_BUTTON_DATA = re.compile(r"^([a-z]{1,8}):([A-Za-z0-9_]{1,48})(?::([a-z0-9]{1,8}))?$")


@dataclass(frozen=True)
class ButtonData:
    """What a choice sends back when it is chosen, the one format every button uses:
    `approve:a1b2c3` (an approval card), `perm:per_1:once` (a builder's permission request),
    `q:que_1:2` (a builder's question, option 2)."""

    action: str
    target: str
    option: str | None = None

    def encode(self) -> str:
        data = f"{self.action}:{self.target}" + (f":{self.option}" if self.option else "")
        if not _BUTTON_DATA.match(data):
            raise ValueError(f"not valid button data: {data!r}")
        return data

    @classmethod
    def parse(cls, data: str | None) -> ButtonData | None:
        """The button data a press carries; None for data no button of ours sends."""
        match = _BUTTON_DATA.match(data or "")
        return cls(*match.groups()) if match else None


# what one attachment may weigh: its bytes are held in memory until every chat has them (a
# channel with a lower limit, Telegram's 50 MB, says so in one line instead of the file)
OUTBOUND_FILE_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class OutboundFile:
    """A file sent with a message (a patch, a builder's report): its name, type and bytes."""

    filename: str
    mime: str
    data: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.data) > OUTBOUND_FILE_LIMIT:
            raise ValueError(
                f"{self.filename}: {len(self.data)} bytes is more than the "
                f"{OUTBOUND_FILE_LIMIT} an attachment may hold"
            )

    @property
    def size(self) -> int:
        return len(self.data)


def file_size(size: int) -> str:
    """A size as a person reads it: 812 B, 4.2 KB, 3.1 MB."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


@dataclass(frozen=True)
class Outbound:
    chat: ChatRef
    text: str
    choices: tuple[Choice, ...] = ()
    # set when this message replaces an earlier one (e.g. a card edited to "approved")
    replaces_message_id: str | None = None
    kind: str = "text"  # text | approval_card | notification | error
    extra: dict[str, str] = field(default_factory=dict)
    priority: Priority = "needs_you"
    # attachments, sent after the text (as documents where the platform has them)
    files: tuple[OutboundFile, ...] = ()


# CSI (ESC [ … final), OSC (ESC ] … BEL or ST), the 8-bit CSI, and two-character escapes
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]?"
)
# explicit directional formatting: embeddings, overrides, isolates, marks
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
# every character some reader (YAML, Unicode, a terminal) takes as a line break
_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# shown where a single-line field held a line break: the reader sees it, no new line starts
LINE_BREAK_MARK = "⏎"


def _strip(text: str, keep: str) -> str:
    text = _ANSI.sub("", text)
    return "".join(
        ch
        for ch in text
        if ch in keep or (ch not in _BIDI and unicodedata.category(ch) not in ("Cc", "Cs"))
    )


def neutral_line(text: object) -> str:
    """One field on one line: line breaks shown as ⏎, tabs as spaces, escapes and controls gone."""
    flat = _BREAKS.sub(f" {LINE_BREAK_MARK} ", str(text)).replace("\t", " ")
    return _strip(flat, keep="")


def neutral_text(text: object) -> str:
    """A message with its own lines kept (as plain \\n); escapes, controls and bidi gone."""
    lines = _BREAKS.sub("\n", str(text))
    return _strip(lines, keep="\n\t")


def neutral_outbound(message: Outbound) -> Outbound:
    """The message as a channel may show it: its text and choice labels neutral."""
    choices = tuple(replace(c, label=neutral_line(c.label)) for c in message.choices)
    files = tuple(replace(f, filename=neutral_filename(f.filename)) for f in message.files)
    return replace(message, text=neutral_text(message.text), choices=choices, files=files)


def neutral_filename(name: str) -> str:
    """A file name a chat shows and a folder can hold: no directories, controls or bidi."""
    base = neutral_line(name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = base.replace(LINE_BREAK_MARK, "_").lstrip(".")
    return base[:120] or "file"
