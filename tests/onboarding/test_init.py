"""`foreman init`: a starter project list, never an overwrite, codev's list recognised."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.cli import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_init_writes_a_starter_list_that_lists_no_projects_until_one_is_added(here: Path) -> None:
    code, out, _ = run("init")
    assert code == 0
    assert out == snapshot("""\
Wrote .ai/projectlist.md with one example entry (skipped: tagged `example`).
Next: add your first project to it, then `foreman projects` lists it.
""")
    text = (here / ".ai" / "projectlist.md").read_text()
    assert "```yaml\nprojects:\n" in text
    assert "conceived -> specified -> planned -> implementing" in text
    assert sorted(p.name for p in here.rglob("*")) == [".ai", "projectlist.md"]

    code, out, _ = run("projects", "--json")
    assert (code, out) == (0, "[]\n")
    code, out, _ = run("check")
    assert code == 0 and "0 error" in out

    # the example, copied as the comment says, becomes a real project
    (here / ".ai" / "projectlist.md").write_text(
        text.replace("tags: [example]", "tags: []").replace("Example: ", "")
    )
    code, out, _ = run("projects", "--json")
    assert code == 0 and '"title": "sign-in page"' in out


def test_init_refuses_to_overwrite_an_existing_list(here: Path) -> None:
    existing = here / ".ai" / "projectlist.md"
    existing.parent.mkdir()
    existing.write_text("mine\n")
    code, out, err = run("init")
    assert code == 1 and out == ""
    assert err == snapshot(
        "Error: .ai/projectlist.md already exists; nothing written (edit it, or run `foreman check` to see what Foreman reads)\n"
    )
    assert existing.read_text() == "mine\n"


def test_init_uses_codevs_list_and_writes_nothing(tmp_path: Path) -> None:
    codev = tmp_path / "ws" / "codev" / "projectlist.md"
    codev.parent.mkdir(parents=True)
    codev.write_text("# Projects\n")
    code, out, _ = run("init", str(tmp_path / "ws"))
    assert code == 0
    assert out.replace(str(tmp_path), "<tmp>") == snapshot(
        "Found codev's <tmp>/ws/codev/projectlist.md: Foreman will use it as it is; nothing written.\n"
    )
    assert not (tmp_path / "ws" / ".ai").exists()


def test_init_in_a_new_directory_creates_it(here: Path) -> None:
    code, _, _ = run("init", "ws")
    assert code == 0 and (here / "ws" / ".ai" / "projectlist.md").is_file()


def test_doctor_in_an_empty_directory_points_at_init(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant import doctor
    from assistant.cli.doctor import load_every_tier

    load_every_tier()  # registered now, into the full registry, not into the one below
    monkeypatch.setattr(doctor, "CHECKS", {"workspace": doctor.CHECKS["workspace"]})
    code, out, _ = run("doctor")
    assert code == 1
    assert out.replace(str(here), "<tmp>") == snapshot(
        "FAIL  workspace  no .ai/projectlist.md or codev/projectlist.md in <tmp> or any parent; pass --workspace DIR or --file PATH, or set FOREMAN_WORKSPACE; or `foreman init` starts one here\n"
    )
