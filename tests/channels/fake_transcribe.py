"""A stand-in for whisper.cpp: `fake_transcribe.py FILE PROMPT` prints a transcript.

The "audio" the tests send is UTF-8 text, so the transcript is the file's content; the prompt
is written to $FAKE_TRANSCRIBE_PROMPT_FILE so a test can see which vocabulary it was given.
A file whose content is `FAIL` makes it fail the way a real tool does (stderr, exit 2).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> int:
    audio, prompt = Path(sys.argv[1]).read_bytes(), sys.argv[2] if len(sys.argv) > 2 else ""
    record = os.environ.get("FAKE_TRANSCRIBE_PROMPT_FILE")
    if record:
        Path(record).write_text(prompt)
    if audio == b"FAIL":
        print("error: failed to read audio file", file=sys.stderr)
        return 2
    print(audio.decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
