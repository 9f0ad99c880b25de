"""foreman.toml and foreman.env as setup writes them: kept comments, secrets at mode 0600."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Table

from assistant.setup._errors import SetupError

ENV_FILE_NAME = "foreman.env"


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable by its owner only (it holds secrets)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise SetupError(f"cannot write {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class ConfigFile:
    """One foreman.toml, edited in place: what the user wrote by hand stays as written."""

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().absolute()
        self.existed = self.path.is_file()
        text = ""
        if self.existed:
            try:
                text = self.path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise SetupError(f"{self.path}: cannot read it: {exc}") from None
        try:
            self.doc = tomlkit.parse(text)
        except TOMLKitError as exc:
            raise SetupError(
                f"{self.path}: not valid TOML ({exc}); fix it or move it away"
            ) from None

    def get(self, section: str, key: str) -> Any:
        table = self.doc.get(section) if section else self.doc
        if not isinstance(table, Mapping):
            return None
        value = table.get(key)
        return value.unwrap() if hasattr(value, "unwrap") else value

    def set(self, section: str, key: str, value: Any) -> None:
        if not section:
            self.doc[key] = value
            return
        table = self.doc.get(section)
        if not isinstance(table, Table):
            table = tomlkit.table()
            self.doc[section] = table
        table[key] = value

    def save(self) -> None:
        write_private(self.path, tomlkit.dumps(self.doc))


class EnvFile:
    """foreman.env beside foreman.toml: `NAME=value` lines the service reads (model keys)."""

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().absolute()
        self.lines = (
            self.path.read_text(encoding="utf-8").splitlines() if self.path.is_file() else []
        )

    @classmethod
    def beside(cls, config: Path) -> EnvFile:
        return cls(config.expanduser().absolute().parent / ENV_FILE_NAME)

    def values(self) -> dict[str, str]:
        """Every `NAME=value` the file sets (comments and other lines skipped)."""
        found = {}
        for line in self.lines:
            match = re.fullmatch(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)", line)
            if match:
                found[match.group(1)] = match.group(2).strip().strip("'\"")
        return found

    def get(self, name: str) -> str | None:
        for line in self.lines:
            match = re.fullmatch(rf"\s*(?:export\s+)?{re.escape(name)}=(.*)", line)
            if match:
                return match.group(1).strip().strip("'\"")
        return None

    def set(self, name: str, value: str) -> None:
        if "\n" in value or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise SetupError(f"cannot store {name}: the value spans lines")
        line = f"{name}={value}"
        for index, existing in enumerate(self.lines):
            if re.match(rf"\s*(?:export\s+)?{re.escape(name)}=", existing):
                self.lines[index] = line
                return
        self.lines.append(line)

    def save(self) -> None:
        write_private(self.path, "\n".join(self.lines) + "\n")
