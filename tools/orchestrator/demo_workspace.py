"""A small but real workspace to demo and test builders on.

`make_demo_workspace(root)` writes a workspace git repository with the design's
`.ai/projectlist.md`, two repositories under `repos/` pushed to bare "remotes" under `remotes/`,
and (by default) a Taskfile whose `builder:init` / `builder:cleanup` make and remove sibling
worktrees the way the design's Taskfile does.
"""

from __future__ import annotations

from pathlib import Path

from git import Repo

from tools.orchestrator._errors import OrchestratorError

DEMO_REPOS = ("ai-dev", "domain-apis")

PROJECTLIST = """\
# Projects

Foreman reads this list; a project's status changes only with your approval.

```yaml
projects:
  - id: "0013"
    title: "Slack Gateway"
    status: integrated
    repos: [domain-apis]
    files:
      spec: codev/specs/0013-slack-gateway.md
    tags: [gateway]
    notes: "Shipped; kept for history."

  - id: "0014"
    title: "Ironman Training"
    status: implementing
    repos: [ai-dev]
    files:
      spec: codev/specs/0014-ironman-training.md
      plan: codev/plans/0014-ironman-training.md
    chat_binding:
      platform: telegram
      group_name: "Ironman Training builder"
      channel_id: "-1001234567890"
      trigger: mention
      patterns: ["@opencode", "hey opencode"]
    tags: [training, personal]
    notes: "Weekly plan generator for the race in June."

  - id: "0015"
    title: "New Feature"
    status: planned
    repos: [ai-dev, domain-apis]
    files:
      spec: codev/specs/0015-new-feature.md
    tags: [feature]
    notes: "Needs both the agent repo and the domain APIs."

  - id: "0016"
    title: "Voice Notes"
    status: conceived
    repos: []
    files: {}
    tags: [idea]
    notes: "Dictate a task from the phone."
```
"""

# What the design's Taskfile does: sibling worktrees on builder/<name>; cleanup refuses
# uncommitted changes. Written in task's own shell (mvdan/sh), so it runs without bash.
TASKFILE = """\
version: '3'

vars:
  BUILDERS: '{{.ROOT_DIR}}/.builders'

tasks:
  builder:init:
    desc: Create .builders/BUILDER_NAME with workspace-root and one worktree per repo in REPOS
    requires:
      vars: [BUILDER_NAME]
    vars:
      DIR: '{{.BUILDERS}}/{{.BUILDER_NAME}}'
      BRANCH: 'builder/{{.BUILDER_NAME}}'
    cmds:
      - mkdir -p '{{.DIR}}'
      - git worktree add -q -b '{{.BRANCH}}' '{{.DIR}}/workspace-root' HEAD
      - for: {var: REPOS, split: ','}
        # an empty REPOS still yields one empty ITEM: skip it
        cmd: >-
          [ -z '{{.ITEM}}' ] ||
          git -C 'repos/{{.ITEM}}' worktree add -q -b '{{.BRANCH}}' '{{.DIR}}/{{.ITEM}}' HEAD

  builder:cleanup:
    desc: Remove .builders/BUILDER_NAME; refuses when a worktree has uncommitted changes
    requires:
      vars: [BUILDER_NAME]
    vars:
      DIR: '{{.BUILDERS}}/{{.BUILDER_NAME}}'
    cmds:
      - |
        for wt in '{{.DIR}}'/*/; do
          if [ -n "$(git -C "$wt" status --porcelain)" ]; then
            echo "refusing: uncommitted changes in $wt" >&2
            exit 1
          fi
        done
      - |
        for wt in '{{.DIR}}'/*/; do
          name=$(basename "$wt")
          if [ "$name" = workspace-root ]; then repo=.; else repo="repos/$name"; fi
          git -C "$repo" worktree remove "$wt"
          git -C "$repo" worktree prune
        done
        rmdir '{{.DIR}}'
"""


# a fixed date gives the demo the same commit ids on every machine, so its output can be pinned
DEMO_DATE = "2026-01-05T09:00:00 +0000"


def init_repo(path: Path, files: dict[str, str], message: str = "Initial commit") -> Repo:
    """A git repository on `main` with one commit holding `files`, and a local identity."""
    path.mkdir(parents=True, exist_ok=True)
    repo = Repo.init(path, initial_branch="main")
    with repo.config_writer() as config:
        # commits made later in the builders' worktrees need an author too
        config.set_value("user", "name", "Foreman Demo")
        config.set_value("user", "email", "demo@foreman.invalid")
        config.set_value("commit", "gpgsign", "false")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    repo.index.add(list(files))
    repo.index.commit(message, author_date=DEMO_DATE, commit_date=DEMO_DATE)
    return repo


def make_demo_workspace(root: Path, *, taskfile: bool = True, repos: tuple[str, ...] = DEMO_REPOS):
    """Write the demo workspace into `root` (empty or absent) and return it as a `Workspace`."""
    from tools.workspace import Workspace

    root = Path(root).resolve()
    if root.exists() and any(root.iterdir()):
        raise OrchestratorError(f"{root} is not empty; the demo workspace needs an empty folder")
    files = {
        ".ai/projectlist.md": PROJECTLIST,
        ".gitignore": "/repos/\n/remotes/\n",
        "README.md": "# Demo workspace\n\nBuilt by Foreman to show builders at work.\n",
    }
    if taskfile:
        files["Taskfile.yaml"] = TASKFILE
    init_repo(root, files, "Workspace with project list")
    for name in repos:
        remote = root / "remotes" / f"{name}.git"
        Repo.init(remote, bare=True, initial_branch="main")
        repo = init_repo(
            root / "repos" / name,
            {"README.md": f"# {name}\n", "src/__init__.py": f'"""{name}."""\n'},
        )
        repo.create_remote("origin", str(remote))
        repo.git.push("-q", "-u", "origin", "main")
    return Workspace(root=root, projectlist_path=root / ".ai" / "projectlist.md")
