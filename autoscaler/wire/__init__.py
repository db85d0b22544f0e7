"""Wire formats several plugins read, parsed once in the core (public, like :mod:`autoscaler.plugin`).

- :mod:`autoscaler.wire.zmq`: a zmq-event-publisher frame (``"<topic> <json>"``) -> an engine event.
- :mod:`autoscaler.wire.cloudevents`: a Jenkins CloudEvent (binary or structured mode) -> an engine event.

The ``zmq`` and ``cloudevents`` listeners use them, and so does ``kafka`` (which carries both
formats), so that no plugin depends on another. Parsers are pure functions: bytes in, an event
(or ``None`` for input to ignore) out, a ``ValueError`` subclass for malformed input.
"""
