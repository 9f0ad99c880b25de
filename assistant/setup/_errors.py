"""The one error setup raises: a sentence the user can act on, shown as `Error: …`."""


class SetupError(Exception):
    """A setup step could not finish; nothing of that step was written."""
