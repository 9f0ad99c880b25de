"""The four setup steps; each reads what is there, asks for what is missing, writes its part.

A step writes nothing until it has everything it needs, so a refusal (a wrong token, a key of
the wrong shape) leaves foreman.toml as it was.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx

from assistant.model_config import DEFAULT_MODEL, PROVIDER_KEYS
from assistant.setup._config_file import ConfigFile, EnvFile
from assistant.setup._errors import SetupError
from assistant.setup._model_key import check_key_format, check_model
from assistant.setup._prompter import Answers, Prompter
from assistant.setup._telegram import DEFAULT_BASE_URL, BotLink
from assistant.setup._whatsapp import link_whatsapp

Step = Callable[[ConfigFile, Answers, Prompter], None]
STEP_NAMES: tuple[str, ...] = ("model", "telegram", "whatsapp", "opencode")
STEP_TITLES: dict[str, str] = {
    "model": "the model the assistant thinks with, and its key",
    "telegram": "a Telegram bot you DM",
    "whatsapp": "WhatsApp, as a linked device of your phone",
    "opencode": "OpenCode, the coding agent builders run in",
}


def model_step(config: ConfigFile, answers: Answers, ui: Prompter) -> None:
    providers = ", ".join(sorted({name.split("-")[0] for name in PROVIDER_KEYS}))
    current = config.get("", "model") or os.environ.get("FOREMAN_MODEL") or DEFAULT_MODEL
    model = (
        answers.model
        or ui.ask(
            f"Model, as provider:name (providers: {providers})",
            default=current,
            option="--model",
        )
    ).strip()
    provider, colon, name = model.partition(":")
    if not colon or not provider or not name:
        raise SetupError(f"{model!r} names no provider: write provider:name, e.g. {DEFAULT_MODEL}")
    env_var = PROVIDER_KEYS.get(provider)
    env_file = EnvFile.beside(config.path)
    key: str | None = None
    if env_var is None:
        ui.say(f"{provider} needs no key Foreman knows of; the model is passed on as written.")
    else:
        key = answers.model_key or os.environ.get(env_var) or env_file.get(env_var)
        if key:
            ui.say(f"Using the {env_var} already set.")
        else:
            key = ui.secret(f"Paste your {env_var} (input hidden)", option="--model-key")
        key = check_key_format(provider, key)
    if answers.check_model:
        ui.say(f"Checking {model} with one short request…")
        ui.say(f"{model} answered: {check_model(model, env_var, key)!r}")
    config.set("", "model", model)
    config.save()
    if env_var and key:
        env_file.set(env_var, key)
        env_file.save()
        ui.say(
            f"Model: {model}. {env_var} is in {env_file.path} (mode 0600); `foreman serve` and "
            f"the service read it. For `foreman chat`: set -a; . {env_file.path}; set +a"
        )
    else:
        ui.say(f"Model: {model}.")


def telegram_step(config: ConfigFile, answers: Answers, ui: Prompter) -> None:
    ui.say("Create a bot with @BotFather in Telegram (/newbot) if you have none; it gives a token.")
    kept = config.get("telegram", "token")
    if kept and not answers.telegram_token and not ui.confirm("Keep the bot token in the file?"):
        kept = None
    token = (
        answers.telegram_token
        or os.environ.get("FOREMAN_TELEGRAM_TOKEN")
        or kept
        or ui.secret("Bot token from @BotFather (input hidden)", option="--telegram-token")
    )
    base_url = (
        os.environ.get("FOREMAN_TELEGRAM_BASE_URL")
        or config.get("telegram", "base_url")
        or DEFAULT_BASE_URL
    )
    link = BotLink(token, base_url)
    try:
        bot = link.identify()
        ui.say(f"Token accepted: this is @{bot.username} ({bot.name}).")
        users = list(answers.telegram_users)
        if not users:
            offset = link.skip_backlog()
            wait = answers.telegram_wait
            ui.say(
                f"Now send any message to @{bot.username} from your own Telegram account "
                f"(https://t.me/{bot.username}); waiting up to {wait:.0f} s…"
            )
            found = link.wait_for_dm(offset, wait)
            if found is None:
                raise SetupError(
                    f"no message reached @{bot.username} within {wait:.0f} s; run "
                    "`foreman setup telegram` again, or pass --telegram-user ID"
                )
            message, offset = found
            ui.say(f"Message from {message.who()}.")
            if not ui.confirm(f"Allow {message.name} to DM the assistant?", default=True):
                link.acknowledge(offset)
                raise SetupError("not allowed; nothing written")
            link.reply(
                message.chat_id,
                f"Hello {message.name}! Foreman allow-listed you (user id {message.user_id}). "
                "Once `foreman serve` runs, the assistant answers here: try /projects.",
            )
            link.acknowledge(offset)  # so the gateway does not answer this message again
            users = [str(message.user_id)]
    finally:
        link.close()
    for user in users:
        if not user.lstrip("-").isdigit():
            raise SetupError(f"{user!r} is not a numeric Telegram user id")
    existing = [str(u) for u in config.get("telegram", "allowed_users") or []]
    allowed = sorted({*existing, *users}, key=lambda u: (len(u), u))
    config.set("telegram", "token", link.token)
    config.set("telegram", "allowed_users", [int(u) for u in allowed])
    config.save()
    ui.say(f"Telegram: @{bot.username}, allow-listed user id(s) {', '.join(allowed)}.")


def whatsapp_step(config: ConfigFile, answers: Answers, ui: Prompter) -> None:
    from assistant.store import default_state_dir

    configured = config.get("whatsapp", "db")
    db = answers.whatsapp_db or (
        Path(configured).expanduser() if configured else default_state_dir() / "whatsapp.db"
    )
    ui.say(
        "Foreman links to WhatsApp as a device of your phone (WhatsApp > Settings > Linked "
        "devices); "
        f"the session is stored in {db} (a credential: keep it private)."
    )
    account = link_whatsapp(db, phone=answers.whatsapp_phone, show=ui.say)
    ui.say(f"Linked {account}.")
    allowed = list(answers.whatsapp_allowed)
    if not allowed:
        number = ui.ask(
            "Your phone number, allowed to DM the assistant (e.g. +49 170 1234567)",
            default=account.split("@", 1)[0].split(":", 1)[0] if "@" in account else None,
            option="--whatsapp-allow",
        )
        allowed = [number]
    from assistant.gateway import normalise_whatsapp_id

    for item in allowed:
        try:
            normalise_whatsapp_id(item)
        except ValueError as exc:
            raise SetupError(str(exc)) from None
    existing = [str(x) for x in config.get("whatsapp", "allowed") or []]
    config.set("whatsapp", "db", str(db))
    config.set("whatsapp", "allowed", list(dict.fromkeys([*existing, *allowed])))
    config.save()
    ui.say(f"WhatsApp: {account}, allow-listed {', '.join(allowed)}.")


def opencode_step(config: ConfigFile, answers: Answers, ui: Prompter) -> None:
    from tools.opencode import find_opencode_binary

    binary = find_opencode_binary()
    if binary is None:
        ui.say(
            "OpenCode is not installed. Install it with Node's npm: "
            "`npm install -g opencode-ai` (or set FOREMAN_OPENCODE_BIN to the binary), "
            "then run `foreman setup opencode` again."
        )
    else:
        ui.say(f"OpenCode {_version(binary)} at {binary}.")
    ui.say(
        "Builders get their sessions on, and the relay listens to, an OpenCode server. "
        "With no URL stored, `foreman serve` runs its own (127.0.0.1, a random password); "
        "to use one of yours, started with OPENCODE_SERVER_PASSWORD set, give its URL."
    )
    current = config.get("opencode", "url")
    url = answers.opencode_url
    if url is None:
        url = ui.ask(
            "OpenCode server URL (Enter to skip)", default=current or "", option="--opencode-url"
        )
    url = url.strip().rstrip("/")
    if not url:
        if binary is not None:
            ui.say("OpenCode: no server URL stored; `foreman serve` runs its own.")
        else:
            ui.say("OpenCode: no server URL stored; builders run without sessions, no relay.")
        return
    if not url.startswith(("http://", "https://")):
        raise SetupError(f"{url!r} is not an http(s) URL, e.g. http://127.0.0.1:4096")
    config.set("opencode", "url", url)
    config.save()
    ui.say(f"OpenCode: {url} ({_probe(url, config)}).")


def _version(binary: Path) -> str:
    try:
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return "(version unknown)"
    return done.stdout.strip() or "(version unknown)"


def _probe(url: str, config: ConfigFile) -> str:
    password = os.environ.get("FOREMAN_OPENCODE_PASSWORD") or config.get("opencode", "password")
    auth = ("opencode", password) if password else None
    try:
        response = httpx.get(f"{url}/global/health", auth=auth, timeout=3.0)
    except httpx.HTTPError:
        return "not reachable now: start it with the command above"
    if response.status_code == 401:
        return "reachable, but it wants a password: set [opencode] password"
    if response.status_code != 200:
        return f"answered HTTP {response.status_code}"
    return "reachable"


STEPS: dict[str, Step] = {
    "model": model_step,
    "telegram": telegram_step,
    "whatsapp": whatsapp_step,
    "opencode": opencode_step,
}
