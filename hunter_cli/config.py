"""Configuration in one place: hunter.toml, then the environment, then flags -> one Settings."""

from __future__ import annotations

import getpass
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hunter_cli.errors import ConfigError
from hunter_cli.suggest import bare_did_you_mean as _meant

CONFIG_NAME = "hunter.toml"
STATE_DIR = ".hunter"
DEFAULT_DB_NAME = "hunter.db"

# Sections hunter.toml may hold; an unknown section is almost always a typo.
KNOWN_SECTIONS = {
    "workspace",
    "database",
    "ai",
    "providers",
    "channels",
    "customers",
    "limits",
    "http",
}
# The keys of the sections this module reads itself; a key not among them is a warning (a
# typo such as `defalt_customer` would otherwise be ignored without a word).
KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "workspace": ("default_customer",),
    "database": ("url",),
    "http": ("allow_env",),
}
# Environment variables that hold hunter's own credentials. A recipe's api_call may not send
# one to its URL (a shared recipe could otherwise post the AI key, the SMTP password or the
# database URL to any host) unless [http] allow_env names it; see protected_env().
OWN_SECRET_ENV = frozenset(
    {
        "GROQ_API_KEY",
        "OPENAI_API_KEY",
        "HUNTER_API_KEY",
        "APOLLO_API_KEY",
        "SMTP_USERNAME",
        "SMTP_PASSWORD",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "NTFY_TOKEN",
        "WEBHOOK_SECRET",
        "DATABASE_URL",
        "HUNTER_DATABASE_URL",
        "HUNTER_TEST_DATABASE_URL",
        "PGPASSWORD",
        "PGPASSFILE",
    }
)
# The sections that decide whether and how much is sent. A typo there must not pass for "no
# cap" or "do not send", so an unknown key is an error (as in [ai] and [channels.*]).
LIMITS_KEYS = ("daily_caps",)
CUSTOMER_KEYS = ("send", "daily_caps")
# As recipe slugs (recipe/schema.py); customers are stored and looked up by it.
CUSTOMER_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where it runs. Built once per invocation."""

    workspace: Path | None
    config_path: Path | None
    database_url: str | None
    default_customer: str | None
    actor: str
    sections: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    # What is odd but not fatal in hunter.toml, for the CLI to show on stderr.
    warnings: tuple[str, ...] = ()

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.sections.get(name, {}))

    @property
    def state_dir(self) -> Path | None:
        return self.workspace / STATE_DIR if self.workspace else None

    def protected_env(self) -> frozenset[str]:
        """The environment variables an api_call may not send: hunter's own credentials,
        those hunter.toml names (any `*_env` key), and the PostgreSQL client's, less what
        [http] allow_env lets through."""
        named: set[str] = set()
        stack: list[Any] = [dict(self.sections)]
        while stack:
            value = stack.pop()
            if isinstance(value, Mapping):
                for key, item in value.items():
                    if str(key).endswith("_env") and isinstance(item, str) and item:
                        named.add(item)
                    else:
                        stack.append(item)
        allowed = self.section("http").get("allow_env", [])
        if not isinstance(allowed, list) or not all(isinstance(n, str) for n in allowed):
            raise ConfigError(
                f"{self.config_path}: [http] allow_env must be a list of variable names"
            )
        return frozenset((OWN_SECRET_ENV | named) - set(allowed))

    def require_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        raise ConfigError(
            "no hunter workspace here: run `hunter init` to create one, pass --config PATH, "
            "or set HUNTER_DATABASE_URL"
        )


def find_config(start: Path) -> Path | None:
    """Look for hunter.toml in start and its parents, the way git finds .git."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid UTF-8 (byte {exc.start}): save it as UTF-8"
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        where = f"{path}:{match.group(1)}:{match.group(2)}" if match else str(path)
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        raise ConfigError(f"{where}: malformed hunter.toml: {reason}") from exc
    unknown = sorted(set(data) - KNOWN_SECTIONS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown section [{unknown[0]}]; known sections: "
            + ", ".join(sorted(KNOWN_SECTIONS))
        )
    for name, value in data.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: '{name}' must be a [{name}] table")
    check_sending_sections(data, path, text)
    check_service_tables(data, path, text)
    return data


def check_sending_sections(data: dict[str, Any], path: Path, text: str = "") -> None:
    """Refuse an unknown key, channel or customer slug in [limits] and [customers.*], and a
    value of the wrong kind there or in [http] allow_env, naming file:line (when the line can
    be found)."""

    def fail(table: tuple[str, ...], message: str) -> ConfigError:
        line = _line_of(text, table)
        return ConfigError(f"{path}:{line}: {message}" if line else f"{path}: {message}")

    def check_caps(where: tuple[str, ...], caps: Any) -> None:
        # Only here: a hunter.toml without caps (most runs) does not pay for the import.
        from hunter_cli.providers.channels import PROVIDERS  # no HTTP or SMTP library

        name = ".".join(where)
        if not isinstance(caps, dict):
            raise fail(where, f"[{name}] must be a table of channel = number")
        for channel, value in caps.items():
            if channel not in PROVIDERS:
                raise fail(
                    (*where, channel),
                    f"unknown channel '{channel}' in [{name}]; known channels: "
                    + ", ".join(PROVIDERS),
                )
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise fail((*where, channel), f"[{name}] {channel} must be a whole number >= 0")

    def check_keys(where: tuple[str, ...], table: dict[str, Any], known: tuple[str, ...]) -> None:
        for key in table:
            if key not in known:
                raise fail(
                    (*where, key),
                    f"unknown key '{key}' in [{'.'.join(where)}]; known keys: " + ", ".join(known),
                )
        if "daily_caps" in table:
            check_caps((*where, "daily_caps"), table["daily_caps"])

    check_keys(("limits",), data.get("limits", {}), LIMITS_KEYS)
    # Checked here, not only when an api_call step asks: by then earlier steps ran and were
    # charged.
    allowed = data.get("http", {}).get("allow_env", [])
    if not isinstance(allowed, list) or not all(isinstance(name, str) for name in allowed):
        raise fail(
            ("http", "allow_env"),
            '[http] allow_env must be a list of variable names, e.g. allow_env = ["MY_API_KEY"]',
        )
    for slug, table in data.get("customers", {}).items():
        where = ("customers", slug)
        if not CUSTOMER_SLUG.match(slug):
            fixed = re.sub(r"[^a-z0-9_-]+", "-", slug.strip().lower()).strip("-_")
            hint = f": write [customers.{fixed}]" if CUSTOMER_SLUG.match(fixed) else ""
            raise fail(
                where,
                f"[customers.{slug}]: a customer is named by its slug, of lower-case letters, "
                f"digits, '-' and '_' (as `hunter customers list` shows it){hint}",
            )
        if not isinstance(table, dict):
            raise fail(where, f"[customers.{slug}] must be a table")
        check_keys(where, table, CUSTOMER_KEYS)
        if "send" in table and not isinstance(table["send"], bool):
            raise fail((*where, "send"), f"[customers.{slug}] send must be true or false")


def check_service_tables(data: dict[str, Any], path: Path, text: str = "") -> None:
    """Refuse a [providers.NAME], [channels.NAME] or [ai.NAME] table hunter does not know
    (`[providers.hunterio]` was ignored, and the run called the vendor's default URL with the
    real key), and a lead provider's or [ai]'s setting that its step would refuse (found only
    when the step ran, after earlier steps were charged), by the rules the step applies.

    Cheap on purpose, as every command loads hunter.toml: the lead providers are built (no
    key read, no file opened, no HTTP library imported), [ai] is checked as a run checks it.
    A channel's own keys need its delivery module (httpx, smtplib: a tenth of a second), so
    they are checked when a run or a send starts (check_channel_keys), not here."""

    def fail(table: tuple[str, ...], message: str) -> ConfigError:
        line = _line_of(text, table)
        return ConfigError(f"{path}:{line}: {message}" if line else f"{path}: {message}")

    providers = data.get("providers", {})
    if providers:
        from hunter_cli.providers.leads import PROVIDERS, LeadProviderError, check_settings

        for name, table in providers.items():
            where = ("providers", name)
            if name not in PROVIDERS:
                hint = _meant(name, tuple(PROVIDERS))
                raise fail(
                    where,
                    f"unknown lead provider [providers.{name}]{hint}; known providers: "
                    + ", ".join(PROVIDERS),
                )
            if not isinstance(table, dict):
                raise fail(where, f"[providers.{name}] must be a table")
            try:
                check_settings(name, table)
            except LeadProviderError as exc:
                named = re.search(rf"providers\.{re.escape(name)}\.([A-Za-z0-9_-]+)", exc.message)
                message = exc.message.removeprefix("hunter.toml: ")
                raise fail((*where, named.group(1)) if named else where, message) from None

    channels = data.get("channels", {})
    if channels:
        from hunter_cli.providers.channels import PROVIDERS as CHANNELS  # no HTTP library

        for name, table in channels.items():
            if name not in CHANNELS:
                raise fail(
                    ("channels", name),
                    f"unknown channel [channels.{name}]{_meant(name, tuple(CHANNELS))}; "
                    "known channels: " + ", ".join(CHANNELS),
                )
            if not isinstance(table, dict):
                raise fail(("channels", name), f"[channels.{name}] must be a table")

    if data.get("ai"):
        from hunter_cli.providers.ai.config import ai_section_problem

        problem = ai_section_problem(data["ai"])
        if problem is not None:
            raise fail(problem[0], problem[1].removeprefix("hunter.toml "))


def check_channel_keys(settings: Settings) -> None:
    """ConfigError for a key no channel takes in a [channels.NAME] table (a misspelt `frm`
    would otherwise be found only as the message is sent). Not made as hunter.toml is loaded
    (see check_service_tables): a run calls this before it holds anything, and `outbox send`
    builds the channel, which checks the same, before it sends anything."""
    channels = settings.section("channels")
    if not channels:
        return
    import importlib

    from hunter_cli.providers.channels import PROVIDERS

    for name, table in channels.items():
        target = PROVIDERS.get(name)
        if target is None or not isinstance(table, dict):
            continue  # refused as hunter.toml was loaded (Settings made otherwise: the step)
        module_name, class_name = target.split(":")
        known = getattr(importlib.import_module(module_name), class_name).config_keys
        unknown = sorted(set(table) - known)
        if unknown:
            line = _line_of(_config_text(settings.config_path), ("channels", name, unknown[0]))
            where = f"{settings.config_path or CONFIG_NAME}" + (f":{line}" if line else "")
            raise ConfigError(
                f"{where}: unknown key '{unknown[0]}' in [channels.{name}]"
                f"{_meant(unknown[0], sorted(known))}; known keys: " + ", ".join(sorted(known))
            )


def _config_text(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _line_of(text: str, target: tuple[str, ...]) -> int | None:
    """The first line of hunter.toml that defines the table or key `target` (a header
    [limits.daily_cap] or a key under [limits]), or None when it cannot be told."""

    def parts(dotted: str) -> tuple[str, ...]:
        return tuple(part.strip().strip("\"'") for part in dotted.split("."))

    table: tuple[str, ...] = ()
    nearest, nearest_depth = None, 0  # else the line of an enclosing table or inline table
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = parts(header.group(1))
            found = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            found = (*table, *parts(key.group(1)))
        if found[: len(target)] == target:
            return number
        if target[: len(found)] == found and len(found) > nearest_depth:
            nearest, nearest_depth = number, len(found)
    return nearest


def unknown_keys(data: dict[str, Any], path: Path | None) -> tuple[str, ...]:
    """One warning per key hunter does not know in [workspace] and [database]."""
    found = []
    for section, known in KNOWN_KEYS.items():
        for key in data.get(section, {}):
            if key not in known:
                found.append(
                    f"{path}: unknown key '{key}' in [{section}] (ignored); known: "
                    + ", ".join(known)
                )
    return tuple(found)


MAX_ACTOR = 200


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers; the audit trail still needs one
        return "unknown"


def load_settings(
    *,
    config: str | os.PathLike | None = None,
    database_url: str | None = None,
    actor: str | None = None,
    cwd: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Flags (the keyword arguments) win over the environment, which wins over hunter.toml."""
    env = os.environ if environ is None else environ
    config_path: Path | None
    explicit = config or env.get("HUNTER_CONFIG")
    if explicit:
        config_path = Path(explicit).expanduser()
        if config_path.is_dir():
            config_path = config_path / CONFIG_NAME
        if not config_path.is_file():
            raise ConfigError(f"config file not found: {config_path}")
        config_path = config_path.resolve()
    else:
        config_path = find_config(cwd or Path.cwd())

    data = read_config_file(config_path) if config_path else {}
    workspace = config_path.parent if config_path else None

    db_section = data.get("database", {})
    url = database_url or env.get("HUNTER_DATABASE_URL") or env.get("DATABASE_URL")
    if not url:
        url = db_section.get("url") or None
        if url is not None and not isinstance(url, str):
            raise ConfigError(f"{config_path}: [database] url must be a string")
        if url and workspace is not None:
            url = _anchor_sqlite_path(url, workspace)
    if not url and workspace is not None:
        url = f"sqlite:///{workspace / STATE_DIR / DEFAULT_DB_NAME}"
    if url:
        url = normalise_database_url(url)

    ws = data.get("workspace", {})
    default_customer = env.get("HUNTER_CUSTOMER") or ws.get("default_customer") or None
    if default_customer is not None and not isinstance(default_customer, str):
        raise ConfigError(f"{config_path}: [workspace] default_customer must be a string")

    who = actor or env.get("HUNTER_ACTOR") or _default_actor()
    if len(who) > MAX_ACTOR:  # every ledger and audit row keeps it, in 200 characters
        raise ConfigError(
            f"the actor (--actor, HUNTER_ACTOR) is longer than {MAX_ACTOR} characters"
        )
    return Settings(
        warnings=unknown_keys(data, config_path),
        workspace=workspace,
        config_path=config_path,
        database_url=url,
        default_customer=default_customer,
        actor=who,
        sections=MappingProxyType(data),
    )


def _anchor_sqlite_path(url: str, folder: Path) -> str:
    """A relative SQLite path in hunter.toml means beside hunter.toml, not beside wherever the
    command runs: from a subfolder it would otherwise open (and create) a second database."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    path, sep, query = url[len(prefix) :].partition("?")
    if not path or path == ":memory:" or Path(path).is_absolute():
        return url
    return f"{prefix}{folder / path}{sep}{query}"


def normalise_database_url(url: str) -> str:
    """Accept the URL forms people paste (postgres://, postgresql://) and pick psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def customer_table(settings: Settings, slug: str) -> dict[str, Any]:
    """The customer's [customers.<slug>] table in hunter.toml ({} when it has none)."""
    table = settings.section("customers").get(slug) or {}
    if not isinstance(table, Mapping):
        raise ConfigError(f"[customers.{slug}] in hunter.toml must be a table")
    return dict(table)


def send_requested(settings: Settings, customer_slug: str, flag: bool = False) -> bool:
    """Real delivery only when asked: --send, or `send = true` in [customers.<slug>]. Here,
    not in the delivery module, so that every run can ask without importing it."""
    if flag:
        return True
    value = customer_table(settings, customer_slug).get("send", False)
    if not isinstance(value, bool):
        raise ConfigError(f"[customers.{customer_slug}] send must be true or false")
    return value
