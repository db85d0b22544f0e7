"""Build lifecycle from the Jenkins zmq-event-publisher (``type: zmq``)."""

from autoscaler_zmq.frames import FrameError, parse_frame
from autoscaler_zmq.listener import ZmqListener, ZmqSettings

__all__ = ["FrameError", "ZmqListener", "ZmqSettings", "parse_frame"]
