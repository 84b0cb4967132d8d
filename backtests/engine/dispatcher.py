"""A synchronous, deterministic event dispatcher for the order flow.

Handlers subscribe to an event type and receive every event of that type or a subclass.
``publish`` calls them at once, in the order they subscribed (across all matching types), in
the calling thread. A handler that publishes causes a nested, depth-first dispatch, so the
order of events is a pure function of the inputs. Bars do not go through the dispatcher: the
orchestrator calls the broker and the strategy directly on that hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[Any], None]


class Dispatcher:
    """Routes events to handlers by type, synchronously, in subscription order."""

    def __init__(self) -> None:
        self._subscriptions: list[tuple[type, Handler]] = []
        self._by_type: dict[type, tuple[Handler, ...]] = {}

    def subscribe(self, event_type: type, handler: Handler) -> None:
        """Call ``handler`` for every published event that is an instance of ``event_type``."""
        self._subscriptions.append((event_type, handler))
        self._by_type.clear()

    def handlers_for(self, event_type: type) -> tuple[Handler, ...]:
        """The handlers an event of ``event_type`` reaches, in subscription order."""
        handlers = self._by_type.get(event_type)
        if handlers is None:
            handlers = tuple(h for t, h in self._subscriptions if issubclass(event_type, t))
            self._by_type[event_type] = handlers
        return handlers

    def publish(self, event: Any) -> None:
        """Deliver ``event`` to its handlers now; exceptions propagate to the publisher."""
        handlers = self._by_type.get(type(event))
        if handlers is None:
            handlers = self.handlers_for(type(event))
        for handler in handlers:
            handler(event)
