"""The assistant's instructions, as Markdown files shipped inside the package."""

from importlib.resources import files


def load(name: str) -> str:
    """The text of `prompts/<name>.md` (works from a checkout, an editable install or a wheel)."""
    return files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")
