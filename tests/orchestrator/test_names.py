"""Builder names: slugs from titles, suffixes, and what is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.orchestrator import OrchestratorError, builder_name, slugify


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("New Feature", "new-feature"),
        ("Slack Gateway (v2)!", "slack-gateway-v2"),
        ("Ünïcödé Façade", "unicode-facade"),
        ("   ", "builder"),
        ("日本語", "builder"),
        (
            "A very long project title that goes on and on about everything",
            "a-very-long-project-title-that-goes-on",
        ),
    ],
)
def test_slug_from_title(title: str, slug: str):
    assert slugify(title) == slug


@given(st.text(max_size=200))
def test_every_slug_is_a_safe_bounded_name(title: str):
    slug = slugify(title)
    assert 0 < len(slug) <= 40
    assert slug.isascii() and not slug.startswith("-") and not slug.endswith("-")
    assert builder_name("0015", title) == f"0015-{slug}"


def test_suffix_picks_one_of_several_builders():
    assert builder_name("0012", "Slack Gateway") == "0012-slack-gateway"
    assert builder_name("0012", "Slack Gateway", "bridge-plugin") == "0012-bridge-plugin"
    assert builder_name("0012", "Slack Gateway", "0012-Bridge") == "0012-bridge"


@pytest.mark.parametrize("bad", ["../x", "a/b", "-x", ".x", "a..b", "", "a b", "x" * 101])
def test_unsafe_suffix_is_refused(bad: str):
    with pytest.raises(OrchestratorError, match="unsafe builder name"):
        builder_name("0012", "t", bad)


def test_session_permission_is_configurable(monkeypatch: pytest.MonkeyPatch):
    from tools.orchestrator import DEFAULT_SESSION_PERMISSION, session_permission_from_env

    assert session_permission_from_env() == DEFAULT_SESSION_PERMISSION
    assert {r["permission"]: r["action"] for r in DEFAULT_SESSION_PERMISSION} == {
        "bash": "ask",
        "edit": "ask",
    }
    monkeypatch.setenv(
        "FOREMAN_BUILDER_PERMISSION",
        '[{"permission": "bash", "pattern": "git *", "action": "allow"}]',
    )
    assert session_permission_from_env() == (
        {"permission": "bash", "pattern": "git *", "action": "allow"},
    )
    monkeypatch.setenv("FOREMAN_BUILDER_PERMISSION", "[{")
    with pytest.raises(OrchestratorError, match="FOREMAN_BUILDER_PERMISSION is not valid JSON"):
        session_permission_from_env()
    monkeypatch.setenv("FOREMAN_BUILDER_PERMISSION", '[{"permission": "bash", "action": "maybe"}]')
    with pytest.raises(OrchestratorError, match="must be a JSON list of"):
        session_permission_from_env()
