"""Jenkins CloudEvents (``type: cloudevents``): an HTTP receiver for the Jenkins cloudevents plugin.

The CloudEvents parsing itself is shared with the kafka listener: :mod:`autoscaler.wire.cloudevents`.
"""

from autoscaler_cloudevents.receiver import CloudEventsReceiver, CloudEventsSettings

__all__ = ["CloudEventsReceiver", "CloudEventsSettings"]
