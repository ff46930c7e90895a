"""Dramatiq middleware: a message's store, job, resource or event on every line it causes."""

from __future__ import annotations

from typing import Any

import dramatiq
import structlog
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from config_db.logs import fields_from_arguments


class MessageLogContext(Middleware):
    """Binds the ids among the message's arguments (by the actor's parameter names) while a
    worker thread processes it, so Dramatiq's own lines about it (failure, retry, time limit)
    carry them too. Added first: it binds before and clears after every other middleware.
    """

    @classmethod
    def install(cls, broker: dramatiq.Broker) -> None:
        """Add it to `broker` first (Dramatiq runs the `after_` hooks in reverse order)."""
        broker.add_middleware(cls(), before=type(broker.middleware[0]))

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        structlog.contextvars.clear_contextvars()
        try:
            actor = broker.get_actor(message.actor_name)
        except dramatiq.errors.ActorNotFound:
            return  # Dramatiq rejects the message itself
        structlog.contextvars.bind_contextvars(
            **fields_from_arguments(actor.fn, message.args, message.kwargs)
        )

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        structlog.contextvars.clear_contextvars()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        structlog.contextvars.clear_contextvars()
