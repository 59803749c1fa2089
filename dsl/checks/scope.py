"""What bare names mean where an expression stands."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scope:
    """What bare names mean where an expression stands."""

    events: tuple[str, ...] = ()  # event types whose fields bare names refer to
    current: tuple[str, ...] = ()  # the rule's `on` event types
    steps: dict[str, str] = field(default_factory=dict)  # bound step name → event type
    window_filter: bool = False  # inside an aggregate's `where`: only that event's fields
    span_event: str | None = None  # inside an absence step: totals over the gap allowed
    constant: str | None = None  # a value fixed per market; names what it is for messages
    in_step: bool = False  # inside a sequence step's condition: about that one event
