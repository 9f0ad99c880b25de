import os

# The evals drive the assistant, the orchestrator and the project list, built in parallel by
# other issues; until they are all on this branch there is nothing to evaluate (CI must have them).
try:
    import assistant.service  # noqa: F401
    import tools.orchestrator
    import tools.projectlist  # noqa: F401
except ImportError:
    if os.environ.get("CI"):
        raise
    collect_ignore_glob = ["test_*.py"]
