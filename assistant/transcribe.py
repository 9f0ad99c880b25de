"""Voice notes to text, through a command the user runs locally or an OpenAI-compatible endpoint.

Which one is read from the environment (`transcriber_from_env`). Both take a prompt of words
the workspace uses (project titles, repo names, file names) so code names come out spelled
the way the code spells them.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

NOT_CONFIGURED = (
    "🎙 I can't listen to voice notes yet: set FOREMAN_TRANSCRIBE_COMMAND "
    "(e.g. 'whisper-cli -nt -f {file} --prompt {prompt}') or FOREMAN_TRANSCRIBE_URL "
    "(an OpenAI-compatible endpoint, with FOREMAN_TRANSCRIBE_MODEL and "
    "FOREMAN_TRANSCRIBE_API_KEY) and restart foreman serve."
)
# Whisper reads at most 224 tokens of prompt; a few hundred characters of names fit well
PROMPT_CHARS = 600
COMMAND_TIMEOUT = 120.0


class TranscriptionError(Exception):
    """Transcribing failed; the message is one line fit to show the user."""


class Transcriber(Protocol):
    async def transcribe(self, audio: bytes, filename: str, prompt: str) -> str: ...


def vocabulary_prompt(words: Iterable[str], limit: int = PROMPT_CHARS) -> str:
    """Distinct words, in the order given, comma-separated, cut at `limit` characters."""
    seen: set[str] = set()
    kept: list[str] = []
    size = 0
    for word in words:
        word = word.strip()
        if not word or word.lower() in seen:
            continue
        if size + len(word) + 2 > limit:
            break
        seen.add(word.lower())
        kept.append(word)
        size += len(word) + 2
    return ", ".join(kept)


@dataclass(frozen=True)
class CommandTranscriber:
    """A shell command with `{file}` (and optionally `{prompt}`) that prints the transcript."""

    command: str
    timeout: float = COMMAND_TIMEOUT

    async def transcribe(self, audio: bytes, filename: str, prompt: str) -> str:
        suffix = Path(filename).suffix or ".ogg"
        with tempfile.TemporaryDirectory(prefix="foreman-voice-") as folder:
            path = Path(folder) / f"voice{suffix}"
            path.write_bytes(audio)
            # both values are quoted: a prompt made of file names must not become shell syntax
            line = self.command.replace("{file}", shlex.quote(str(path))).replace(
                "{prompt}", shlex.quote(prompt)
            )
            process = await asyncio.create_subprocess_shell(
                line, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            try:
                out, err = await asyncio.wait_for(process.communicate(), self.timeout)
            except TimeoutError:
                process.kill()
                await process.wait()
                raise TranscriptionError(
                    f"the transcribe command took longer than {self.timeout:.0f} s"
                ) from None
        if process.returncode != 0:
            last = (err.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
            raise TranscriptionError(
                f"the transcribe command failed (exit {process.returncode}): {last[:200]}"
            )
        return out.decode(errors="replace").strip()


@dataclass(frozen=True)
class EndpointTranscriber:
    """An OpenAI-compatible `/audio/transcriptions` endpoint (OpenAI, Groq, a local server)."""

    url: str
    model: str = "whisper-1"
    api_key: str | None = None
    timeout: float = COMMAND_TIMEOUT

    async def transcribe(self, audio: bytes, filename: str, prompt: str) -> str:
        import openai

        client = openai.AsyncOpenAI(
            base_url=self.url,
            # local servers need no key, but the client insists on one
            api_key=self.api_key or "none",
            timeout=self.timeout,
            max_retries=1,
        )
        try:
            result = await client.audio.transcriptions.create(
                model=self.model,
                file=(filename, audio),
                prompt=prompt or openai.NOT_GIVEN,
                response_format="json",
            )
        except openai.APIStatusError as exc:
            raise TranscriptionError(
                f"the transcription endpoint answered {exc.status_code}"
            ) from None
        except openai.APIError as exc:
            raise TranscriptionError(
                f"the transcription endpoint cannot be reached ({type(exc).__name__})"
            ) from None
        finally:
            await client.close()
        return result.text.strip()


def transcriber_from_env(env: Mapping[str, str] | None = None) -> Transcriber | None:
    """The configured transcriber; the command wins when both are set."""
    env = os.environ if env is None else env
    command = env.get("FOREMAN_TRANSCRIBE_COMMAND", "").strip()
    if command:
        return CommandTranscriber(command)
    url = env.get("FOREMAN_TRANSCRIBE_URL", "").strip()
    if url:
        return EndpointTranscriber(
            url,
            model=env.get("FOREMAN_TRANSCRIBE_MODEL", "").strip() or "whisper-1",
            api_key=env.get("FOREMAN_TRANSCRIBE_API_KEY") or None,
        )
    return None
