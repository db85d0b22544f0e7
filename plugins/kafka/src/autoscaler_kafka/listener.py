"""The ``kafka`` destroy listener: a confluent-kafka consumer in a consumer group.

Offsets are committed only after a batch of messages has been handed to the engine
(at-least-once); a repeated event is dropped here by (event, node, build) and is harmless to the
engine anyway. Malformed messages are counted, logged with their partition and offset, and skipped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Any, Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from pydantic import Field, field_validator

from autoscaler.config.units import Duration
from autoscaler.events import BuildFinished, BuildStarted, Event
from autoscaler.plugin import DestroyListener, ListenerSettings, PluginContext
from autoscaler_kafka.messages import FieldMapping, MalformedMessage, to_event

log = logging.getLogger(__name__)
_SEEN = 10_000


class KafkaSettings(ListenerSettings):
    """``type: kafka``: build events from Kafka topics."""

    bootstrap_servers: str
    """``host:port[,host:port...]`` of the brokers."""
    topics: tuple[str, ...] = Field(min_length=1)
    """Topics to consume (a single string is accepted)."""
    group_id: str = "autoscaler"
    """Consumer group; offsets are committed for it."""
    format: Literal["zmq-json", "cloudevents", "mapping"] = "zmq-json"
    """How messages are encoded (see the kafka listener's documentation)."""
    topic_word: str = "key"
    """``zmq-json``: where ``onStarted``/``onFinalized`` is: ``key``, ``header:NAME`` or ``field:PATH``."""
    mapping: FieldMapping = FieldMapping()
    """``mapping``: where node, phase, status, build number and job are."""
    start_from: Literal["earliest", "latest"] = "latest"
    """Where a new consumer group starts reading."""
    client_config: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Extra librdkafka settings, passed through (``security.protocol``, ``ssl.ca.location``, ``sasl.mechanism``,
    ``sasl.username``...). Put the SASL password in ``sasl-password-file`` or ``sasl-password-env``."""
    sasl_password_file: str | None = None
    """File holding ``sasl.password``."""
    sasl_password_env: str | None = None
    """Environment variable holding ``sasl.password``."""
    batch: int = Field(default=500, ge=1)
    """Messages handled per commit at most."""
    poll_timeout: Duration = Field(default=0.2, gt=0)
    """How long one poll waits for messages."""

    @field_validator("topics", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("topic_word")
    @classmethod
    def _where(cls, value: str) -> str:
        if (value != "key" and not value.startswith(("header:", "field:"))) or value in ("header:", "field:"):
            raise ValueError(f"expected key, header:NAME or field:PATH, got {value!r}")
        return value

    @field_validator("client_config")
    @classmethod
    def _no_inline_password(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "sasl.password" in value:
            raise ValueError("put the SASL password in sasl-password-file or sasl-password-env, not inline")
        return value


class KafkaListener(DestroyListener):
    settings_model = KafkaSettings

    def __init__(self, settings: ListenerSettings, context: PluginContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, KafkaSettings)
        self.kafka = settings
        self.controller = context.controller(settings.controller).name
        self.source = settings.display_name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self.handled = 0
        self.malformed = 0
        self.duplicates = 0
        self.committed = 0
        self._last_error = 0.0

    def consumer_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "bootstrap.servers": self.kafka.bootstrap_servers,
            "group.id": self.kafka.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": self.kafka.start_from,
            "client.id": f"autoscaler-{self.source}",
            "error_cb": self._client_error,
            **self.kafka.client_config,
        }
        password = None
        if self.kafka.sasl_password_file is not None:
            with open(self.kafka.sasl_password_file, encoding="utf-8") as fh:
                password = fh.read().strip()
        elif self.kafka.sasl_password_env is not None:
            password = os.environ.get(self.kafka.sasl_password_env)
        if password:
            config["sasl.password"] = password
        return config

    def start(self) -> None:
        consumer = Consumer(self.consumer_config())
        consumer.subscribe(list(self.kafka.topics))
        self._thread = threading.Thread(target=self._run, args=(consumer,), name=f"kafka-{self.source}", daemon=True)
        self._thread.start()
        log.info(
            "kafka listener %s consuming %s from %s (%s)",
            self.source,
            ", ".join(self.kafka.topics),
            self.kafka.bootstrap_servers,
            self.kafka.format,
        )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, consumer: Consumer) -> None:
        try:
            while not self._stop.is_set():
                first = consumer.poll(self.kafka.poll_timeout)  # returns as soon as one message is there
                messages = [] if first is None else [first, *consumer.consume(self.kafka.batch - 1, 0)]
                took = False
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            self._client_error(error)
                        continue
                    self.handle(message)
                    took = True
                if took:
                    self._commit(consumer)
        except Exception:
            log.exception("kafka listener %s stopped unexpectedly", self.source)
        finally:
            consumer.close()

    def _commit(self, consumer: Consumer) -> None:
        try:
            consumer.commit(asynchronous=False)
            self.committed += 1
        except KafkaException as exc:  # the next commit covers these offsets too
            log.warning("kafka %s: commit failed (will retry with the next batch): %s", self.source, exc)

    def handle(self, message: Message) -> None:
        """Turn one message into an engine event; malformed ones are counted and skipped."""
        try:
            event = to_event(
                _bytes(message.key()),
                _headers(message.headers()),
                message.value(),
                fmt=self.kafka.format,
                topic_word=self.kafka.topic_word,
                mapping=self.kafka.mapping,
                controller=self.controller,
                source=self.source,
            )
        except MalformedMessage as exc:
            self.malformed += 1
            self.context.count("malformed")
            log.warning(
                "kafka %s: malformed message at %s[%s]@%s skipped: %s",
                self.source,
                message.topic(),
                message.partition(),
                message.offset(),
                exc,
            )
            return
        if event is None:
            self.context.count("ignored")
            return
        if self._repeated(event):
            self.duplicates += 1
            self.context.count("duplicate")
            return
        self.handled += 1
        self.context.emit(event)

    def _repeated(self, event: Event) -> bool:
        if not isinstance(event, BuildStarted | BuildFinished):
            return False
        key = (type(event).__name__, event.node, event.build_key)
        if key in self._seen:
            return True
        self._seen[key] = None
        if len(self._seen) > _SEEN:
            self._seen.popitem(last=False)
        return False

    def _client_error(self, error: KafkaError) -> None:
        now = time.monotonic()
        if now - self._last_error > 30:  # a broker that is down reports every few hundred ms
            log.warning("kafka %s: %s (waiting for the brokers)", self.source, error)
            self._last_error = now
        self.context.count("client-error")


def _bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _headers(raw: Any) -> list[tuple[str, bytes | None]]:
    pairs = raw.items() if isinstance(raw, dict) else (raw or [])
    return [(str(k), _bytes(v)) for k, v in pairs]
