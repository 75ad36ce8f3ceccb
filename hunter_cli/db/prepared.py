"""Bookkeeping statements compiled once and run on the driver's cursor of the session's
connection, inside its transaction.

Every run writes about 25 bookkeeping rows (its execution, ledger and audit rows). Through
SQLAlchemy's execution machinery each statement costs several times what the driver itself
costs, and on SQLite that overhead was most of a run. These statements are still built with
SQLAlchemy Core from the typed models, compiled by SQLAlchemy for the dialect, and their
values converted by the models' own column types (bind and result processors): only the
per-call execution machinery is skipped. A statement run here does not fire SQLAlchemy's
cursor events; it is logged on SQLAlchemy's engine logger, as `echo` logs the others, and
errors are raised as SQLAlchemy's own exception classes, as `Connection.execute` raises
them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from hunter_cli.db.engine import PHASE_KEY

_Processor = Callable[[Any], Any] | None
_CONNECTION_KEY = "hunter_prepared_connection"
_LOG = logging.getLogger("sqlalchemy.engine.Engine")


@dataclass
class _Compiled:
    sql: str
    positional: bool  # qmark/format paramstyles take a tuple, the others a dict
    # (name, converter) in the order the driver takes them (a name may come twice).
    order: tuple[tuple[str, _Processor], ...]
    defaults: dict[str, Any]  # literal values the statement binds itself (LIMIT 1, 'active')
    results: list[_Processor] | None = None  # learnt from the first result's description


def transaction_key(session: Session) -> object | None:
    """What identifies the database transaction a session's next statement runs in (None
    when it has none yet): its innermost savepoint; else, in a run phase, the transaction
    of its connection, whether or not the session has joined it; else its own."""
    nested = session.get_nested_transaction()
    if nested is not None:
        return nested
    bind = session.bind
    if isinstance(bind, Connection) and bind.in_transaction():
        return bind.get_transaction()
    return session.get_transaction()


class Prepared:
    """One Core statement, compiled per dialect on first use."""

    def __init__(self, statement: ClauseElement, *, columns: Sequence[str] | None = None) -> None:
        """`columns`: for an INSERT, the columns every call gives (no defaults are filled)."""
        self.statement = statement
        self.columns = list(columns) if columns is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect, column_keys=self.columns)
        assert isinstance(compiled, SQLCompiler)
        processors: dict[str, _Processor] = {
            name: compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in compiled.params
        }
        positional = compiled.positiontup is not None
        names = list(compiled.positiontup) if compiled.positiontup is not None else processors
        defaults = {k: v for k, v in compiled.params.items() if v is not None}
        order = tuple((name, processors[name]) for name in names)
        return _Compiled(compiled.string, positional, order, defaults)

    def _result_processors(self, compiled: _Compiled, dialect: Dialect, description) -> None:
        columns = list(getattr(self.statement, "selected_columns", ()))
        processors: list[_Processor] = []
        for index, column_desc in enumerate(description):
            if index < len(columns):
                impl = columns[index].type.dialect_impl(dialect)
                processors.append(impl.result_processor(dialect, column_desc[1]))
            else:
                processors.append(None)
        # Empty when no column needs converting: rows are then taken as they come.
        compiled.results = processors if any(processors) else []

    def _connection(self, session: Session) -> tuple[Any, Dialect]:
        """The driver's connection under the session's, asked of the session once per
        transaction: asking on every statement cost more than the statement."""
        transaction = transaction_key(session)
        cached = session.info.get(_CONNECTION_KEY)
        if transaction is not None and cached is not None and cached[0] is transaction:
            return cached[1], cached[2]
        bind = session.bind
        if (
            isinstance(bind, Connection)
            and session.info.get(PHASE_KEY)
            and session.get_nested_transaction() is None
        ):
            # A run phase (run_phase): the transaction of the run's connection, begun here
            # on the phase's first statement; the session joins it if it is used later.
            if not bind.in_transaction():
                bind.begin()
            connection = bind
        else:
            # Asking the session begins its transaction if need be, and starts the
            # savepoint of a begin_nested() on the connection.
            connection = session.connection()
        driver, dialect = connection.connection.driver_connection, connection.dialect
        session.info[_CONNECTION_KEY] = (transaction_key(session), driver, dialect)
        return driver, dialect

    def execute(self, session: Session, params: dict[str, Any] | None = None) -> _Rows:
        """Run in the session's current transaction."""
        driver, dialect = self._connection(session)
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        values = params or {}
        if compiled.defaults:
            values = {**compiled.defaults, **values}
        converted = []
        try:
            for name, processor in compiled.order:
                value = values[name]
                converted.append(value if processor is None or value is None else processor(value))
        except KeyError as missing:
            raise exc.ArgumentError(f"no value for bound parameter {missing}") from None
        arguments: Any = (
            tuple(converted)
            if compiled.positional
            else dict(zip((name for name, _ in compiled.order), converted, strict=True))
        )
        if _LOG.isEnabledFor(logging.INFO):  # what create_engine(echo=True) turns on
            _LOG.info("%s\n[prepared] %r", compiled.sql, arguments)
        cursor = driver.cursor()
        try:
            cursor.execute(compiled.sql, arguments)
        except dialect.loaded_dbapi.Error as err:
            raise exc.DBAPIError.instance(
                compiled.sql, arguments, err, dialect.loaded_dbapi.Error, dialect=dialect
            ) from err
        if cursor.description is None:  # a write: nothing to fetch
            rows = _Rows(cursor, None)
            cursor.close()
            return rows
        if compiled.results is None:
            self._result_processors(compiled, dialect, cursor.description)
        return _Rows(cursor, compiled.results)

    def first(self, session: Session, params: dict[str, Any] | None = None) -> tuple | None:
        return self.execute(session, params).first()


class _Rows:
    """A result's rows with the columns' result processors applied."""

    def __init__(self, cursor: Any, processors: list[_Processor] | None) -> None:
        self.cursor = cursor
        self.processors = processors
        self.rowcount: int = cursor.rowcount

    def _convert(self, row: Sequence[Any]) -> tuple:
        if not self.processors:
            return tuple(row)
        return tuple(
            [
                value if processor is None or value is None else processor(value)
                for processor, value in zip(self.processors, row, strict=False)
            ]
        )

    def first(self) -> tuple | None:
        row = self.cursor.fetchone()
        self.cursor.close()
        return None if row is None else self._convert(row)

    def all(self) -> list[tuple]:
        rows = self.cursor.fetchall()
        self.cursor.close()
        return [self._convert(row) for row in rows]

    def __iter__(self):
        return iter(self.all())
