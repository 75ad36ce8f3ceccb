"""Settings: flag > environment > hunter.toml > default, and where hunter.toml is found."""

from __future__ import annotations

from pathlib import Path

import pytest

from hunter_cli.config import find_config, load_settings, normalise_database_url
from hunter_cli.errors import ConfigError
from tests.lead_servers import HUNTER_KEY, FakeHunter
from tests.servers import http_server  # noqa: F401

TOML_URL = "postgresql+psycopg://toml@db.example:5432/hunter"
ENV_URL = "postgresql+psycopg://env@db.example:5432/hunter"
FLAG_URL = "postgresql+psycopg://flag@db.example:5432/hunter"


@pytest.fixture
def ws(tmp_path) -> Path:
    folder = tmp_path / "ws"
    folder.mkdir()
    (folder / "hunter.toml").write_text(
        f'[workspace]\ndefault_customer = "acme"\n\n[database]\nurl = "{TOML_URL}"\n'
    )
    return folder


def test_hunter_toml_beats_the_default(ws):
    settings = load_settings(cwd=ws, environ={})
    assert settings.database_url == TOML_URL
    assert settings.workspace == ws.resolve()
    assert settings.config_path == (ws / "hunter.toml").resolve()
    assert settings.default_customer == "acme"


def test_the_default_is_sqlite_in_the_workspace(tmp_path):
    (tmp_path / "hunter.toml").write_text("[workspace]\n")
    settings = load_settings(cwd=tmp_path, environ={})
    assert settings.database_url == f"sqlite:///{tmp_path.resolve()}/.hunter/hunter.db"
    assert settings.state_dir == tmp_path.resolve() / ".hunter"
    assert settings.default_customer is None


@pytest.mark.parametrize("name", ["HUNTER_DATABASE_URL", "DATABASE_URL"])
def test_the_environment_beats_hunter_toml(ws, name):
    assert load_settings(cwd=ws, environ={name: ENV_URL}).database_url == ENV_URL


def test_hunter_database_url_beats_database_url(ws):
    env = {"HUNTER_DATABASE_URL": ENV_URL, "DATABASE_URL": "sqlite:///other.db"}
    assert load_settings(cwd=ws, environ=env).database_url == ENV_URL


def test_a_flag_beats_the_environment(ws):
    env = {"HUNTER_DATABASE_URL": ENV_URL, "HUNTER_ACTOR": "env-actor"}
    settings = load_settings(database_url=FLAG_URL, actor="flag-actor", cwd=ws, environ=env)
    assert settings.database_url == FLAG_URL
    assert settings.actor == "flag-actor"


def test_actor_and_customer_from_the_environment(ws):
    env = {"HUNTER_ACTOR": "ci-bot", "HUNTER_CUSTOMER": "global"}
    settings = load_settings(cwd=ws, environ=env)
    assert (settings.actor, settings.default_customer) == ("ci-bot", "global")
    assert load_settings(cwd=ws, environ={}).actor  # the OS user, or "unknown"


@pytest.mark.parametrize("prefix", ["postgres://", "postgresql://"])
def test_pasted_postgres_urls_use_psycopg(prefix):
    url = normalise_database_url(f"{prefix}u@h:5432/d")
    assert url == "postgresql+psycopg://u@h:5432/d"
    assert load_settings(environ={"DATABASE_URL": f"{prefix}u@h/d"}, cwd=Path("/")).database_url
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_hunter_toml_is_found_in_a_parent_folder(ws):
    deep = ws / "a" / "b"
    deep.mkdir(parents=True)
    assert find_config(deep) == (ws / "hunter.toml").resolve()
    settings = load_settings(cwd=deep, environ={})
    assert settings.workspace == ws.resolve()
    assert settings.database_url == TOML_URL


def test_a_relative_sqlite_path_in_hunter_toml_is_beside_it(tmp_path):
    """Regression: a relative path was taken from the current folder, so running from a
    subfolder opened (and created) a second, empty database."""
    (tmp_path / "hunter.toml").write_text('[database]\nurl = "sqlite:///data/h.db?timeout=5"\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    expected = f"sqlite:///{tmp_path.resolve()}/data/h.db?timeout=5"
    assert load_settings(cwd=sub, environ={}).database_url == expected
    assert load_settings(cwd=tmp_path, environ={}).database_url == expected
    (tmp_path / "hunter.toml").write_text('[database]\nurl = "sqlite:////abs/h.db"\n')
    assert load_settings(cwd=sub, environ={}).database_url == "sqlite:////abs/h.db"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_config_path_from_a_flag_or_the_environment(ws, tmp_path, how):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = str(ws / "hunter.toml")
    if how == "flag":
        settings = load_settings(config=path, cwd=elsewhere, environ={})
    else:
        settings = load_settings(cwd=elsewhere, environ={"HUNTER_CONFIG": path})
    assert settings.workspace == ws.resolve()
    assert settings.database_url == TOML_URL


def test_config_path_may_name_the_folder(ws):
    assert load_settings(config=ws, environ={}).config_path == (ws / "hunter.toml").resolve()


def test_a_missing_config_path_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(config=tmp_path / "nope.toml", environ={})


def test_no_workspace_and_no_url_suggests_hunter_init(tmp_path):
    if find_config(tmp_path) is not None:
        pytest.skip("a hunter.toml above the temporary folder would be found")
    settings = load_settings(cwd=tmp_path, environ={})
    assert settings.database_url is None
    with pytest.raises(ConfigError, match="hunter init"):
        settings.require_database_url()


def test_malformed_hunter_toml_names_file_line_and_column(tmp_path):
    path = tmp_path / "hunter.toml"
    path.write_text('[workspace]\ndefault_customer = "acme"\nthis is not toml\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(cwd=tmp_path, environ={})
    assert raised.value.message.startswith(f"{path.resolve()}:3:")
    assert "malformed hunter.toml" in raised.value.message
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[databse]\nurl = 'x'\n", r"unknown section \[databse\]"),
        ("database = 3\n", r"must be a \[database\] table"),
        ("[database]\nurl = 3\n", r"\[database\] url must be a string"),
        ("[workspace]\ndefault_customer = 1\n", "default_customer must be a string"),
    ],
)
def test_invalid_hunter_toml_is_explained(tmp_path, content, message):
    (tmp_path / "hunter.toml").write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(cwd=tmp_path, environ={})


def test_settings_are_frozen(ws):
    settings = load_settings(cwd=ws, environ={})
    with pytest.raises(AttributeError):
        settings.database_url = "sqlite:///x.db"  # type: ignore[misc]
    assert settings.section("workspace") == {"default_customer": "acme"}
    assert settings.section("ai") == {}


def test_unknown_keys_of_the_sections_read_here_are_warnings(tmp_path):
    (tmp_path / "hunter.toml").write_text(
        '[workspace]\ndefalt_customer = "acme"\n[database]\nurl = "sqlite:///h.db"\nuri = 1\n'
    )
    settings = load_settings(cwd=tmp_path, environ={})
    assert settings.default_customer is None
    assert [w.split(": ", 1)[1] for w in settings.warnings] == [
        "unknown key 'defalt_customer' in [workspace] (ignored); known: default_customer",
        "unknown key 'uri' in [database] (ignored); known: url",
    ]


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (
            "[limits.daily_cap]\nemail = 1\n",
            1,
            "unknown key 'daily_cap' in [limits]; known keys: daily_caps",
        ),
        (
            "[limits]\n\n[limits.daily_caps]\nemail = 5\nemails = 1\n",
            5,
            "unknown channel 'emails' in [limits.daily_caps]; known channels: "
            "email, sms, webhook, push",
        ),
        (
            "[customers.acme]\nsend = true\nsned = false\n",
            3,
            "unknown key 'sned' in [customers.acme]; known keys: send, daily_caps",
        ),
        (
            "[customers.acme.daily_caps]\nsms = 1\nfax = 2\n",
            3,
            "unknown channel 'fax' in [customers.acme.daily_caps]",
        ),
        (
            "[workspace]\n[customers.ACME]\nsend = true\n",
            2,
            "[customers.ACME]: a customer is named by its slug, of lower-case letters, digits, "
            "'-' and '_' (as `hunter customers list` shows it): write [customers.acme]",
        ),
        ("[customers.acme]\nsend = 'yes'\n", 2, "[customers.acme] send must be true or false"),
        (
            "[limits]\ndaily_caps = {email = -1}\n",
            2,
            "[limits.daily_caps] email must be a whole number >= 0",
        ),
        # Regression: found only when an api_call step ran, after earlier steps were charged.
        (
            '[workspace]\n\n[http]\nallow_env = "GROQ_API_KEY"\n',
            4,
            '[http] allow_env must be a list of variable names, e.g. allow_env = ["MY_API_KEY"]',
        ),
        ("[http]\nallow_env = [1]\n", 2, "[http] allow_env must be a list of variable names"),
    ],
)
def test_a_typo_in_the_sections_that_control_sending_is_an_error(tmp_path, content, line, message):
    """A misspelt cap or customer was ignored without a word: no cap, or no `send = true`."""
    path = tmp_path / "hunter.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as raised:
        load_settings(cwd=tmp_path, environ={})
    assert raised.value.message.startswith(f"{path.resolve()}:{line}: {message}")
    assert raised.value.exit_code == 2


def test_the_sections_that_control_sending_as_documented_are_accepted(tmp_path):
    (tmp_path / "hunter.toml").write_text(
        "[limits.daily_caps]\nemail = 200\nsms = 50\n"
        "[customers.acme]\nsend = true\n[customers.acme.daily_caps]\nemail = 100\n"
        "[customers.tech-startup_2]\ndaily_caps = {push = 0, webhook = 3}\n"
    )
    settings = load_settings(cwd=tmp_path, environ={})
    assert settings.section("customers")["acme"]["send"] is True
    assert settings.warnings == ()


# --- [providers.*], [channels.*] and [ai.*], checked as hunter.toml is loaded -------------------


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        # Regression: each was ignored, and the run called the vendor's default URL.
        (
            '[workspace]\n[providers.hunterio]\nbase_url = "http://127.0.0.1:9"\n',
            2,
            "unknown lead provider [providers.hunterio] (did you mean hunter_io?); known "
            "providers: local, csv, hunter_io, apollo",
        ),
        (
            "[providers.apolo]\nenrich = false\n",
            1,
            "unknown lead provider [providers.apolo] (did you mean apollo?)",
        ),
        (
            '[channels.emial]\nhost = "smtp.example.com"\n',
            1,
            "unknown channel [channels.emial] (did you mean email?); known channels: email, "
            "sms, webhook, push",
        ),
        (
            '[ai]\nprovider = "openai"\n[ai.opnai]\nmodel = "llama3.2"\n',
            3,
            "[ai.opnai]: unknown AI provider (did you mean openai?); known providers: groq, "
            "offline, openai",
        ),
        ("[providers]\napollo = 1\n", 2, "[providers.apollo] must be a table"),
        # Regression: each was found only when the step ran, after earlier steps were charged.
        (
            '[providers.hunter_io]\npage_size = 10\napi_key = "hk_live_0123"\n',
            3,
            "providers.hunter_io.api_key: a key never goes in hunter.toml; put it in an "
            "environment variable and name that variable with api_key_env",
        ),
        (
            '[providers.hunter_io]\nbase_url = "ftp://x"\n',
            2,
            "providers.hunter_io.base_url must be an http:// or https:// URL, not 'ftp://x'",
        ),
        (
            "[providers.hunter_io]\n\npage_size = 0\n",
            3,
            "providers.hunter_io.page_size must be a whole number of at least 1, not 0",
        ),
        (
            "[providers.apollo]\ntimeout = -1\n",
            2,
            "providers.apollo.timeout must be a number of at least 0, not -1",
        ),
        (
            '[providers.apollo]\napi_key_env = "ak-live-0123"\n',
            2,
            "providers.apollo.api_key_env must name an environment variable (APOLLO_API_KEY), "
            "not hold a key",
        ),
        (
            '[providers.apollo]\nbase_url = "http://x"\nmax_wiat = 5\n',
            3,
            "unknown setting providers.apollo.max_wiat in hunter.toml; known settings: "
            "api_key_env, backoff, base_url, enrich, max_retries, max_wait, per_page, "
            "search_path, timeout",
        ),
        (
            '[providers.csv]\npth = "leads.csv"\n',
            2,
            "unknown setting providers.csv.pth in hunter.toml; known settings: path",
        ),
        ("[ai]\nmax_retries = -1\n", 2, "[ai] max_retries: must be a whole number, 0 or more"),
        ('[ai.openai]\nmodle = "x"\n', 2, "[ai.openai]: unknown key 'modle' (did you mean model?)"),
    ],
)
def test_a_mistake_in_a_service_table_is_refused_as_hunter_toml_loads(
    tmp_path, content, line, message
):
    path = tmp_path / "hunter.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as raised:
        load_settings(cwd=tmp_path, environ={})
    assert raised.value.message.startswith(f"{path.resolve()}:{line}: {message}")
    assert raised.value.code == "config_error" and raised.value.exit_code == 2
    assert "hk_live_0123" not in raised.value.message
    assert "ak-live-0123" not in raised.value.message


def test_service_tables_as_documented_are_accepted(tmp_path):
    (tmp_path / "hunter.toml").write_text(
        '[ai]\nprovider = "openai"\n[ai.openai]\nbase_url = "http://localhost:11434/v1"\n'
        '[providers.hunter_io]\nbase_url = "http://127.0.0.1:9"\npage_size = 10\n'
        '[providers.apollo]\nenrich = false\n[providers.csv]\npath = "leads.csv"\n'
        '[channels.email]\nhost = "smtp.example.com"\n[channels.sms]\nfrom = "+15550100"\n'
    )
    settings = load_settings(cwd=tmp_path, environ={})
    assert settings.section("providers")["hunter_io"]["page_size"] == 10


def test_a_misspelt_channel_key_stops_a_run_before_anything_is_held(workspace, cli):
    """A channel's own keys need its delivery module (httpx, smtplib): not imported to load
    hunter.toml, so they are checked as a run with correspondence steps starts."""
    assert cli("seed").exit_code == 0
    config = workspace / "hunter.toml"
    config.write_text(config.read_text() + '\n[channels.sms]\nfrm = "+15550100"\n')
    assert cli("leads", "list", "--json").exit_code == 0  # what does not send is unaffected
    before = cli("credits", "show", "--json").ok()
    error = cli("run", "outreach", "--tier", "A", "--limit", "1", "--json").error(2)
    assert error["code"] == "config_error"
    assert error["message"] == (
        f"{config.resolve()}:5: unknown key 'frm' in [channels.sms] (did you mean from?); known "
        "keys: account_sid_env, auth_token_env, backoff, base_url, from, max_attempts, "
        "max_backoff, messaging_service_sid, opt_out_text, timeout"
    )
    assert cli("executions", "list", "--json").ok() == []
    assert cli("credits", "show", "--json").ok() == before


def test_a_misspelt_provider_table_stops_the_run_before_any_call(
    workspace,
    cli,
    http_server,  # noqa: F811
    monkeypatch,
):
    """Regression: [providers.hunterio] was ignored, and the run sent the real key to the
    default https://api.hunter.io."""
    hunter = FakeHunter(http_server)
    monkeypatch.setenv("HUNTER_API_KEY", HUNTER_KEY)
    config = workspace / "hunter.toml"
    config.write_text(
        config.read_text() + f'\n[providers.hunterio]\nbase_url = "{http_server.url}"\n'
    )
    result = cli(
        "run", "discovery", "--query", "northwind.example", "--provider", "hunter_io", "--json"
    )
    error = result.error(2)
    assert error["code"] == "config_error"
    assert (
        "unknown lead provider [providers.hunterio] (did you mean hunter_io?)" in (error["message"])
    )
    assert hunter.server.requests == []
