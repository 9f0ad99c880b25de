"""Which status moves are ordinary and which an approval card must point out."""

from __future__ import annotations

from tools.projectlist._model import (
    ALIASES,
    HUMAN_GATES,
    LIFECYCLE,
    STATUSES,
    TERMINAL,
    canonical,
)


def transition_warnings(old: str, new: str) -> tuple[str, ...]:
    """What is unusual about moving from `old` to `new` (empty for one step forward)."""
    before, after = canonical(old), canonical(new)
    warnings: list[str] = []
    if before == after:
        return (f"already {new}: nothing to change",)
    if before not in STATUSES:
        warnings.append(f"leaves unknown status {old!r}")
    if before in TERMINAL:
        warnings.append(f"leaves terminal state {before}")
    if before in LIFECYCLE and after in LIFECYCLE:
        step = LIFECYCLE.index(after) - LIFECYCLE.index(before)
        if step > 1:
            skipped = LIFECYCLE[LIFECYCLE.index(before) + 1 : LIFECYCLE.index(after)]
            warnings.append(f"skips {', '.join(skipped)}")
        elif step < 0:
            warnings.append(f"moves backwards from {before} to {after}")
    if after in HUMAN_GATES:
        warnings.append(f"{after} is a human-only gate: only the human may approve it")
    for written in (old, new):
        if written in ALIASES:
            warnings.append(
                f"{written!r} is codev's {ALIASES[written]!r} written with an underscore"
            )
    return tuple(warnings)
