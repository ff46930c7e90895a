"""What every `shopsync` command shares: settings and MongoDB, and one-line failures."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from rich.markup import escape

from cli_views import error_console
from config_db.errors import ShopsyncError
from config_db.logs import configure_logging
from config_db.mongo import MongoConnection, MongoDocument
from config_db.repository import ConfigRepository, build_repository
from config_db.settings import Settings, get_settings
from stores.databases import StoreDatabases

Command = TypeVar("Command", bound=Callable[..., Any])
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


@dataclass
class Session:
    """Settings and MongoDB for one command."""

    settings: Settings
    mongo: MongoConnection

    @functools.cached_property
    def repository(self) -> ConfigRepository:
        return build_repository(self.settings, self.mongo)

    @functools.cached_property
    def databases(self) -> StoreDatabases:
        return StoreDatabases(self.mongo.client, self.settings.db_prefix)

    def client(self, client_key: str) -> MongoDocument:
        """The client, or a one-line failure naming the unknown clientKey."""
        return self.repository.get_client(client_key)


_opened: list[MongoConnection] = []


def open_session() -> Session:
    """The environment's settings and a MongoDB connection, closed when the command ends."""
    settings = get_settings()
    configure_logging(settings)  # the processes' format; warnings and errors only on a command
    logging.getLogger().setLevel(logging.WARNING)
    connection = MongoConnection(settings)
    _opened.append(connection)  # closed when the command ends (see `reported`)
    return Session(settings, connection)


def close_sessions() -> None:
    while _opened:
        _opened.pop().close()


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    """Print `error: <message>` on stderr; raise what this returns to exit with `code`."""
    error_console().print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def reported(command: Command) -> Command:
    """Expected failures (unknown clientKey, MongoDB or Redis unreachable, bad settings,
    a refused import) as one line and exit code 1, never a traceback."""
    import dramatiq
    import pydantic
    import redis
    from pymongo.errors import ConnectionFailure, PyMongoError

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ShopsyncError as error:
            raise fail(error.message) from None
        except ConnectionFailure as error:
            raise fail(f"cannot reach MongoDB ({type(error).__name__})") from None
        except PyMongoError as error:
            raise fail(f"MongoDB: {type(error).__name__}: {str(error)[:200]}") from None
        except (redis.RedisError, dramatiq.errors.BrokerConnectionError) as error:
            raise fail(f"cannot reach Redis ({type(error).__name__})") from None
        except pydantic.ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise fail(f"settings: {where}: {first['msg']}") from None
        except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
            raise fail(f"{error.strerror}: {error.filename}") from None
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_INTERRUPTED) from None
        finally:
            close_sessions()

    return run  # type: ignore[return-value]
