"""Build lifecycle from the Jenkins zmq-event-publisher (``type: zmq``).

The frame parsing itself is shared with the kafka listener: :mod:`autoscaler.wire.zmq`.
"""

from autoscaler_zmq.listener import ZmqListener, ZmqSettings

__all__ = ["ZmqListener", "ZmqSettings"]
