"""Jenkins CloudEvents (``type: cloudevents``): an HTTP receiver for the Jenkins cloudevents plugin."""

from autoscaler_cloudevents.events import CloudEvent, InvalidEvent, from_binary, from_structured, to_engine_event
from autoscaler_cloudevents.receiver import CloudEventsReceiver, CloudEventsSettings

__all__ = [
    "CloudEvent",
    "CloudEventsReceiver",
    "CloudEventsSettings",
    "InvalidEvent",
    "from_binary",
    "from_structured",
    "to_engine_event",
]
