"""Which project list Foreman uses: --file, --workspace, $FOREMAN_WORKSPACE, then cwd upwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.workspace import WorkspaceNotFound, find_workspace


def make(root: Path, *relative: str) -> Path:
    for rel in relative:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("```yaml\nprojects: []\n```\n")
    return root


def test_ai_list_is_preferred_over_codev(tmp_path: Path) -> None:
    root = make(tmp_path, ".ai/projectlist.md", "codev/projectlist.md")
    found = find_workspace(root)
    assert found.projectlist_path == root / ".ai" / "projectlist.md"
    assert (found.root, found.origin) == (root, "--workspace")


def test_explicit_file_wins_and_names_its_workspace(tmp_path: Path) -> None:
    root = make(tmp_path, ".ai/projectlist.md", "codev/projectlist.md")
    found = find_workspace(workspace=None, file=root / "codev" / "projectlist.md")
    assert (found.root, found.projectlist_path, found.origin) == (
        root,
        root / "codev" / "projectlist.md",
        "--file",
    )
    with pytest.raises(WorkspaceNotFound, match=r"--file .*missing\.md: no such file"):
        find_workspace(file=root / "missing.md")


def test_env_then_cwd_and_parents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_root = make(tmp_path / "env", "codev/projectlist.md")
    cwd_root = make(tmp_path / "cwd", ".ai/projectlist.md")
    deep = cwd_root / "src" / "pkg"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_workspace().root == cwd_root
    monkeypatch.setenv("FOREMAN_WORKSPACE", str(env_root))
    found = find_workspace()
    assert (found.root, found.origin) == (env_root, "FOREMAN_WORKSPACE")


def test_nothing_found_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WorkspaceNotFound) as caught:
        find_workspace()
    assert str(tmp_path) in str(caught.value) and "--workspace" in str(caught.value)
    with pytest.raises(WorkspaceNotFound, match=r"holds neither \.ai/projectlist\.md nor"):
        find_workspace(tmp_path)
    with pytest.raises(WorkspaceNotFound, match="no such directory"):
        find_workspace(tmp_path / "nope")
