"""Engine and session creation, and the schema-version check every command goes through."""

from __future__ import annotations

import functools
import hashlib
import re
import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from hunter_cli.errors import (
    DatabaseUnavailableError,
    SchemaAheadError,
    SchemaBehindError,
    UsageError,
)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def describe_url(url: str) -> str:
    """Where a URL points, for messages: never the password."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        return "the configured database"
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite database {parsed.database or ':memory:'}"
    host = parsed.host or "localhost"
    port = parsed.port or 5432
    return f"PostgreSQL at {host}:{port} (database '{parsed.database}')"


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for another database or an in-memory one."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a URI (?uri=true): its path, without the query
        database = database[len("file:") :].partition("?")[0]
        if not database or database == ":memory:" or "mode=memory" in url:
            return None
    return Path(database)


def new_sqlite_file(url: str) -> str | None:
    """Whether the URL's SQLite file holds no database yet: "missing", or "empty" (0 bytes:
    a failed restore, a full disk, a bad copy); None when it does, or for another database.
    SQLite takes an empty file for a new database, and hunter would give it a schema."""
    path = sqlite_file(url)
    if path is None:
        return None
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    except OSError:
        return None  # not ours to judge: opening it says what is wrong
    # A database in use is never 0 bytes: switching to WAL writes its header at once.
    return "empty" if size == 0 and path.is_file() else None


def create_db_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for the URL. With create=False a SQLite file that does not exist, or is
    empty, is refused instead of given a new schema: a lost database must not pass for a
    new, empty one."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError as err:
        raise UsageError(f"not a database URL: {url!r}") from err
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = sqlite_file(url)
        state = new_sqlite_file(url)
        if state is not None and not create:
            what = "does not exist" if state == "missing" else "is an empty file (0 bytes)"
            raise DatabaseUnavailableError(
                f"{describe_url(url)} {what}: `hunter init` creates a workspace's database "
                "(`hunter db upgrade` one given by --database-url); if it held your data, "
                "restore it from a backup"
            )
        if path is not None and state == "missing":
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 60})
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=False, connect_args={"connect_timeout": 10})
    raise UsageError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        # IMMEDIATE takes the write lock up front, so two processes reserving credits queue
        # instead of both reading the same balance and one failing to upgrade its lock.
        # Sent by the driver itself: every transaction begins here, and SQLAlchemy's
        # statement machinery cost more than the statement.
        try:
            conn.connection.driver_connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            raise exc.DBAPIError.instance(
                "BEGIN IMMEDIATE", (), err, sqlite3.Error, dialect=conn.dialect
            ) from err


class Database:
    """An engine plus a session factory for one database URL."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        # "missing" or "empty" when this opened a SQLite file with no database in it (create
        # only): the commands that set one up say so, as the file may have held data.
        self.new_file = new_sqlite_file(url)
        self.engine = create_db_engine(url, create=create)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        _OPEN.add(self.engine)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work is committed at the end, or rolled back on any error."""
        with self.sessions() as session, wrap_connection_errors(self.url), session.begin():
            yield session

    @contextmanager
    def run_session(self) -> Iterator[Session]:
        """A session for a sequence of transactions, each one a `run_phase(session)`
        (committed at its end, rolled back on any error): a recipe run's phases. What it
        loaded expires at each commit, so every phase reads the rows afresh, as a new
        session would (another process may have changed them in between)."""
        # One connection for the whole run: each phase's checkout from the pool and return
        # to it (with its reset) cost more than a short phase's statements. The connection
        # owns each phase's transaction; the session joins it only when something uses the
        # session (see run_phase).
        with (
            wrap_connection_errors(self.url),
            self.engine.connect() as connection,
            self.sessions(
                bind=connection, expire_on_commit=True, join_transaction_mode="rollback_only"
            ) as session,
        ):
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


PHASE_KEY = "hunter_run_phase"


@contextmanager
def run_phase(session: Session) -> Iterator[Session]:
    """One transaction of a run_session, committed at the end of the block or rolled back
    on any error (Ctrl-C included). It begins on first use, as a session's does: on SQLite
    BEGIN IMMEDIATE takes the only write lock, which a step must not hold while it waits on
    the network. Prepared statements begin it on the run's connection, and a phase that never
    touches the session (a step that computes, then writes its record and audit entry) costs
    no ORM transaction at all; a session used in the phase begins it, or joins it."""
    connection = session.bind
    assert isinstance(connection, Connection), "run_phase needs a Database.run_session()"
    session.info[PHASE_KEY] = True
    try:
        yield session
    except BaseException:
        if session.in_transaction():
            session.rollback()  # its own transaction, or (rollback_only) the one it joined
        if connection.in_transaction():
            connection.rollback()
        raise
    else:
        if session.in_transaction():
            session.commit()  # flush and expire; commits the transaction if the session began it
        if connection.in_transaction():
            connection.commit()
    finally:
        session.info.pop(PHASE_KEY, None)


# Every engine not yet garbage (a Database object may be gone while its engine, kept by
# reference cycles, still holds connections): the console script closes them at exit
# (dispose_all), since it skips the final garbage collection that would have closed them.
_OPEN: weakref.WeakSet[Engine] = weakref.WeakSet()


def serialise_on(session: Session, name: str) -> None:
    """Make transactions that call this with the same `name` take turns, until the caller's
    transaction ends: a PostgreSQL advisory lock. SQLite needs none (BEGIN IMMEDIATE already
    makes writers take turns)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def dispose_all() -> None:
    """Close the pooled connections of every open engine (SQLite then checkpoints its
    write-ahead log and removes it, as it does for a connection closed in the normal way)."""
    for engine in list(_OPEN):
        engine.dispose()


@contextmanager
def wrap_connection_errors(url: str) -> Iterator[None]:
    """A database that cannot be reached, opened or written becomes one line and exit 6."""
    try:
        yield
    except exc.DatabaseError as err:
        fault = database_fault(url, err)
        if fault is None:
            raise
        raise fault from err


# What the drivers' words mean for the user: (marker, what is wrong, what to do). A message
# leads with the database it is about; the driver's own words follow in parentheses.
_FAULTS: tuple[tuple[str, str, str], ...] = (
    (
        "readonly database",
        "is read-only",
        "make the file and its folder writable for this user (SQLite writes beside the file)",
    ),
    (
        "file is not a database",
        "is not a database file",
        "check --database-url, HUNTER_DATABASE_URL or [database] url",
    ),
    ("disk image is malformed", "is damaged", "restore it from a backup"),
    ("disk is full", "cannot be written: the disk is full", "free some space and retry"),
    ("disk i/o error", "cannot be read or written (disk I/O error)", "check the disk"),
    (
        "unable to open database",
        "cannot be opened",
        "check that its folder exists and is readable and writable",
    ),
    ("database is locked", "is locked by another process", "retry when it has finished"),
    (
        "failed to resolve host",
        "cannot be reached: unknown host",
        "check the host name in the database URL",
    ),
    (
        "could not translate host",
        "cannot be reached: unknown host",
        "check the host name in the database URL",
    ),
)
# Connection failures: the existing "cannot connect to ..." wording.
_CONNECTION_MARKERS = ("connection", "could not connect", "timeout expired")


def database_fault(url: str, err: exc.DatabaseError) -> DatabaseUnavailableError | None:
    """The user's side of a driver error (a database that cannot be reached, opened or
    written), or None for an error in hunter's own SQL, which is a bug."""
    reason = str(err.orig).strip().splitlines()[0] if err.orig else str(err).splitlines()[0]
    password = make_url(url).password if "://" in url else None
    if password:
        reason = reason.replace(str(password), "***")
    where = describe_url(url)
    lowered = reason.lower()
    for marker, problem, advice in _FAULTS:
        if marker in lowered:
            return DatabaseUnavailableError(f"{where} {problem} ({reason}): {advice}")
    if isinstance(err, exc.OperationalError) and (
        err.connection_invalidated or any(marker in lowered for marker in _CONNECTION_MARKERS)
    ):
        return DatabaseUnavailableError(f"cannot connect to {where}: {reason}")
    return None


@functools.cache
def known_revisions() -> dict[str, str | None]:
    """Every migration this hunter has, each with the one before it, read from the version
    files' headers. Every command checks the schema, and importing Alembic for that costs
    more than the rest of start-up; a test holds the head equal to Alembic's own answer."""
    revisions: dict[str, str | None] = {}
    pattern = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([\w]+|None)['\"]?", re.M)
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text_ = path.read_text(encoding="utf-8")
        found: dict[str, str] = {m.group(1): m.group(2) for m in pattern.finditer(text_)}
        if "revision" in found:
            down = found.get("down_revision")
            revisions[found["revision"]] = None if down in (None, "None") else down
    return revisions


@functools.cache
def head_revision() -> str:
    """The newest migration (see known_revisions)."""
    revisions = known_revisions()
    parents = {down for down in revisions.values() if down}
    heads = sorted(set(revisions) - parents)
    if len(heads) != 1:
        raise RuntimeError(f"expected one migration head, found {heads}")
    return heads[0]


def current_revision(db: Database) -> str | None:
    with wrap_connection_errors(db.url), db.engine.connect() as conn:
        try:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        except exc.DBAPIError:
            return None
        finally:
            conn.rollback()
    return row[0] if row else None


def refuse_newer_schema(url: str, current: str | None) -> None:
    """A revision this hunter has no migration for was written by a newer hunter (a
    downgrade, or a second machine not yet upgraded): reading or migrating it could only
    go wrong, and `hunter db upgrade` cannot help."""
    if current is not None and current not in known_revisions():
        raise SchemaAheadError(
            f"the database's schema (revision {current}) is newer than this hunter knows "
            f"(newest: {head_revision()}): upgrade hunter ({describe_url(url)})"
        )


def open_database(url: str, *, create: bool = False, auto_upgrade_sqlite: bool = True) -> Database:
    """Open the database, upgrading an embedded SQLite workspace on first use; a PostgreSQL
    schema that is behind is the user's decision (`hunter db upgrade`), not ours. A SQLite
    file is created only when asked (`hunter init`, `seed`, `db upgrade`): any other command
    refuses one that is missing (see create_db_engine)."""
    db = Database(url, create=create)
    current = current_revision(db)
    head = head_revision()
    if current == head:
        return db
    refuse_newer_schema(url, current)
    if db.backend == "sqlite" and auto_upgrade_sqlite:
        from hunter_cli.db.migrate import upgrade

        upgrade(db)
        return db
    where = describe_url(url)
    if current is None:
        raise SchemaBehindError(f"{where} has no hunter schema yet: run `hunter db upgrade`")
    raise SchemaBehindError(
        f"{where} schema is at revision {current}, this hunter needs {head}: "
        "run `hunter db upgrade`"
    )
