from __future__ import annotations

from inline_snapshot import snapshot

from tools.projectlist import transition_warnings


def test_one_step_forward_is_ordinary() -> None:
    assert transition_warnings("planned", "implementing") == ()
    assert transition_warnings("implementing", "abandoned") == ()


def test_unusual_moves_are_flagged_for_the_approval_card() -> None:
    assert {
        (old, new): transition_warnings(old, new)
        for old, new in [
            ("conceived", "implementing"),
            ("integrated", "committed"),
            ("abandoned", "planned"),
            ("committed", "integrated"),
            ("conceived", "specified"),
            ("on_hold", "implementing"),
            ("done", "planned"),
            ("planned", "planned"),
        ]
    } == snapshot(
        {
            ("conceived", "implementing"): ("skips specified, planned",),
            ("integrated", "committed"): (
                "leaves terminal state integrated",
                "moves backwards from integrated to committed",
            ),
            ("abandoned", "planned"): ("leaves terminal state abandoned",),
            ("committed", "integrated"): (
                "integrated is a human-only gate: only the human may approve it",
            ),
            ("conceived", "specified"): (
                "specified is a human-only gate: only the human may approve it",
            ),
            ("on_hold", "implementing"): (
                "leaves terminal state on-hold",
                "'on_hold' is codev's 'on-hold' written with an underscore",
            ),
            ("done", "planned"): ("leaves unknown status 'done'",),
            ("planned", "planned"): ("already planned: nothing to change",),
        }
    )
