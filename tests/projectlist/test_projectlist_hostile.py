"""The hostile-input campaign of issue 11 against the editor: each attack, then the file bytes.

The promise under test: a status edit rewrites the one located value (and its timestamp) or
nothing at all, and hostile input is refused quickly with a clear error naming the line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from tools.projectlist import ProjectListError, load, parse, set_status

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".ai" / "projectlist.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


def entry(project_id: str, status: str, title: str = "A project", notes: str = "n") -> str:
    return (
        f'  - id: "{project_id}"\n'
        f"    title: {title}\n"
        f"    status: {status}\n"
        f'    notes: "{notes}"\n'
        "    repos: [foreman]\n"
        "    timestamps:\n"
        "      planned_at: null\n"
    )


def document(*entries: str) -> str:
    return "# Projects\n\n```yaml\nprojects:\n" + "".join(entries) + "```\n"


# -- YAML line breaks that Markdown does not count ------------------------------------------

BREAKS = {
    "line separator U+2028": "\u2028",
    "paragraph separator U+2029": "\u2029",
    "next line NEL U+0085": "\x85",
    "lone carriage return": "\r",
}


@pytest.mark.parametrize("char", BREAKS.values(), ids=BREAKS.keys())
@pytest.mark.parametrize("where", ["title", "notes"])
def test_yaml_only_line_breaks_do_not_move_the_edit(
    tmp_path: Path, char: str, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = f'"Odd{char}value"'
    first = entry("0015", "conceived", title=odd if where == "title" else '"Fine"')
    if where == "notes":
        first = first.replace('notes: "n"', f"notes: {odd}")
    text = document(first, entry("0016", "conceived", title=odd))
    path = write(tmp_path, text)
    monkeypatch.chdir(tmp_path)  # the workspace is found from the current directory

    code, out, err = run("status", "set", "0016", "planned", "--yes", "--timestamp", "2026-02-09")

    assert code == 0, err
    expected = text.replace(
        '  - id: "0016"\n    title: ' + odd + "\n    status: conceived",
        '  - id: "0016"\n    title: ' + odd + "\n    status: planned",
    )
    head, _, tail = expected.rpartition("planned_at: null")  # 0016's, the last entry's
    expected = head + 'planned_at: "2026-02-09"' + tail
    assert path.read_bytes() == expected.encode("utf-8")
    plist = load(path)
    assert [(p.id, p.status) for p in plist.projects] == [
        ("0015", "conceived"),
        ("0016", "planned"),
    ]
    assert "0016: status conceived → planned (line 14)" in out  # lines as an editor counts them
    assert plist.get("0016").line == 12


def test_a_status_split_by_a_yaml_line_break_is_refused_naming_the_line(tmp_path: Path) -> None:
    text = document(entry("0016", '"con\u2028ceived"'))
    path = write(tmp_path, text)
    with pytest.raises(ProjectListError) as caught:
        set_status(path, "0016", "planned")
    assert caught.value.line == 7 and "status spans several lines" in str(caught.value)
    assert path.read_bytes() == text.encode("utf-8")


# -- anchors, aliases, merges -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status_text", "target", "problem"),
    [
        ("&s conceived", "0016", "status carries a YAML anchor"),
        ("*s", "0017", "status is a YAML alias"),
        ("!!str conceived", "0016", "status carries a YAML tag"),
    ],
)
def test_anchored_aliased_or_tagged_status_is_refused(
    tmp_path: Path, status_text: str, target: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = entry("0016", "&s conceived" if target == "0017" else status_text)
    text = document(first, entry("0017", status_text if target == "0017" else "planned"))
    path = write(tmp_path, text)
    monkeypatch.chdir(tmp_path)  # the workspace is found from the current directory

    code, _, err = run("status", "set", target, "implementing", "--yes")

    assert code == 1
    assert problem in err and "edit it by hand" in err
    assert err.startswith("Error: ") and "Traceback" not in err
    assert path.read_bytes() == text.encode("utf-8")


def test_an_edit_a_merge_would_carry_to_another_entry_is_refused(tmp_path: Path) -> None:
    text = (
        "```yaml\nprojects:\n"
        '  - &base\n    id: "0016"\n    title: A\n    status: conceived\n'
        '  - <<: *base\n    id: "0017"\n    title: B\n'
        '  - id: "0018"\n    title: C\n    status: conceived\n'
        "```\n"
    )
    path = write(tmp_path, text)

    with pytest.raises(ProjectListError, match="would also change project 0017"):
        set_status(path, "0016", "planned")
    with pytest.raises(ProjectListError, match="status comes from a YAML merge"):
        set_status(path, "0017", "planned")
    assert path.read_bytes() == text.encode("utf-8")
    set_status(path, "0018", "planned")  # the rest of the file is editable
    assert load(path).get("0018").status == "planned"


# -- billion laughs and deep nesting -----------------------------------------------------------

LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n"
        for i in range(8)
    )
).splitlines()


@pytest.mark.parametrize("field", ["title", "notes", "tags"])
def test_billion_laughs_is_refused_within_a_second(
    tmp_path: Path, field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = "[" + ", ".join(line.split(": ", 1)[1] for line in LAUGHS) + "]"
    text = document(entry("0015", "conceived"), entry("0016", "conceived")).replace(
        f"    {'title' if field == 'title' else 'notes'}: ",
        "    " + field + ": " + bomb + "\n    x_" + field + ": ",
        1,
    )
    path = write(tmp_path, text)
    monkeypatch.chdir(tmp_path)  # the workspace is found from the current directory

    started = time.monotonic()
    code, _, set_err = run("status", "set", "0016", "planned", "--yes")
    listed, _, list_err = run("projects")
    elapsed = time.monotonic() - started

    assert elapsed < 1.0
    assert code == 1 and listed == 1
    assert "billion laughs" in set_err and "billion laughs" in list_err
    assert "projectlist.md:4: " in set_err  # the document's first line, in the file
    assert path.read_bytes() == text.encode("utf-8")


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    text = document(entry("0016", "conceived")).replace("notes: ", "x: &r [*r]\n    notes: ")
    with pytest.raises(ProjectListError, match="refers to its own ancestor"):
        parse(text.encode(), tmp_path / "projectlist.md")


def test_deep_nesting_is_refused_not_a_crash(tmp_path: Path) -> None:
    # libyaml's composer recurses on the C stack: 100,000 levels used to be a segfault.
    code = (
        "from pathlib import Path; from tools.projectlist import parse, ProjectListError\n"
        "text = '```yaml\\nprojects:\\n  - id: \"0016\"\\n    status: planned\\n    notes: '"
        " + '[' * 100000 + ']' * 100000 + '\\n```\\n'\n"
        "try:\n    parse(text.encode(), Path('.ai/projectlist.md'))\nexcept ProjectListError as e:\n"
        "    print(e)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert re.search(
        r"projectlist.md:5: invalid YAML: nested more than 256 levels deep", done.stdout
    )


@pytest.mark.parametrize(("levels", "reads"), [(200, True), (5000, False)])
def test_nesting_deeper_than_python_can_walk_is_refused(
    tmp_path: Path, levels: int, reads: bool
) -> None:
    text = document(entry("0016", "conceived")).replace(
        'notes: "n"', "notes: " + "[" * levels + "]" * levels
    )
    path = write(tmp_path, text)
    if reads:
        assert load(path).get("0016").status == "conceived"
        return
    with pytest.raises(ProjectListError, match="nested more than 256 levels deep"):
        load(path)
    with pytest.raises(ProjectListError, match="nested more than 256 levels deep"):
        set_status(path, "0016", "planned")
    assert path.read_bytes() == text.encode("utf-8")


# -- values written ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stamp", ["2026-02-09\x1b[2J", "2026\n02", "2026\u202e09", "2026\u2028x", " ", "9" * 65]
)
def test_timestamp_with_control_characters_is_refused(
    tmp_path: Path, stamp: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = document(entry("0016", "conceived"))
    path = write(tmp_path, text)
    monkeypatch.chdir(tmp_path)  # the workspace is found from the current directory

    code, _, err = run("status", "set", "0016", "planned", "--yes", "--timestamp", stamp)

    assert code == 1 and err.startswith("Error: ") and "ISO 8601" in err
    assert "\x1b" not in err and "\u202e" not in err
    assert path.read_bytes() == text.encode("utf-8")


def test_unknown_status_is_refused(tmp_path: Path) -> None:
    text = document(entry("0016", "conceived"))
    path = write(tmp_path, text)
    with pytest.raises(ProjectListError, match="unknown status"):
        set_status(path, "0016", "planned\nstatus: x")
    assert path.read_bytes() == text.encode("utf-8")


# -- where it is written -----------------------------------------------------------------------


def test_read_only_file_is_a_clear_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = document(entry("0016", "conceived"))
    path = write(tmp_path, text)
    path.chmod(0o444)
    monkeypatch.chdir(tmp_path)  # the workspace is found from the current directory

    code, _, err = run("status", "set", "0016", "planned", "--yes")

    assert code == 1 and "the file is read-only (-r--r--r--)" in err
    assert path.read_bytes() == text.encode("utf-8") and path.stat().st_mode & 0o777 == 0o444


def test_unwritable_folder_is_a_clear_refusal(tmp_path: Path) -> None:
    text = document(entry("0016", "conceived"))
    path = write(tmp_path, text)
    path.parent.chmod(0o555)
    try:
        with pytest.raises(ProjectListError, match="is not writable") as caught:
            set_status(path, "0016", "planned")
        assert "nothing was written" in str(caught.value)
        assert path.read_bytes() == text.encode("utf-8")
        assert sorted(p.name for p in path.parent.iterdir()) == ["projectlist.md"]
    finally:
        path.parent.chmod(0o755)


# -- concurrent edits to different entries ----------------------------------------------------


def test_forty_concurrent_status_sets_on_forty_projects_all_land(tmp_path: Path) -> None:
    ids = [f"{n:04d}" for n in range(1, 41)]
    text = document(*(entry(pid, "conceived") for pid in ids))
    path = write(tmp_path, text)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "FOREMAN_STATE_DIR": str(tmp_path / "s")}
    foreman = [sys.executable, "-c", "from assistant.cli import main; main()"]
    procs = [
        subprocess.Popen(
            [*foreman, "status", "set", pid, "planned", "--yes", "--timestamp", f"2026-02-{n:02d}"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, pid in enumerate(ids, start=1)
    ]
    errors = [proc.communicate(timeout=180)[1] for proc in procs]

    assert [proc.returncode for proc in procs] == [0] * 40, errors
    plist = load(path)
    assert {p.id: p.status for p in plist.projects} == dict.fromkeys(ids, "planned")
    expected = text
    for n, pid in enumerate(ids, start=1):
        expected = expected.replace(
            f'"{pid}"\n    title: A project\n    status: conceived\n'
            '    notes: "n"\n    repos: [foreman]\n    timestamps:\n      planned_at: null',
            f'"{pid}"\n    title: A project\n    status: planned\n'
            f'    notes: "n"\n    repos: [foreman]\n    timestamps:\n      planned_at: "2026-02-{n:02d}"',
        )
    assert path.read_text() == expected
