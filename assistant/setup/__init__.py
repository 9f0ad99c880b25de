"""`foreman setup`: the guided steps that write foreman.toml (and foreman.env for model keys)."""

from assistant.setup._config_file import ENV_FILE_NAME, ConfigFile, EnvFile, write_private
from assistant.setup._errors import SetupError
from assistant.setup._prompter import Answers, MissingAnswer, Prompter
from assistant.setup._steps import STEP_NAMES, STEP_TITLES, STEPS
from assistant.setup._telegram import BotLink, check_token_shape

__all__ = [
    "ENV_FILE_NAME",
    "STEPS",
    "STEP_NAMES",
    "STEP_TITLES",
    "Answers",
    "BotLink",
    "ConfigFile",
    "EnvFile",
    "MissingAnswer",
    "Prompter",
    "SetupError",
    "check_token_shape",
    "write_private",
]
