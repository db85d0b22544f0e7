"""Build lifecycle from Kafka (``type: kafka``): the ZMQ publisher's JSON, CloudEvents, or a field mapping."""

from autoscaler_kafka.listener import KafkaListener, KafkaSettings
from autoscaler_kafka.messages import FieldMapping, MalformedMessage, to_event

__all__ = ["FieldMapping", "KafkaListener", "KafkaSettings", "MalformedMessage", "to_event"]
