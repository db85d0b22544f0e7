"""The ``kafka`` destroy listener: a confluent-kafka consumer in a consumer group.

Offsets are committed (asynchronously) only after a batch of messages has been handed to the engine
(at-least-once); a repeated event is dropped here by (event, node, build) and is harmless to the
engine anyway. A message that cannot be parsed, for whatever reason, is counted, logged with its
topic, partition and offset, skipped, and committed with its batch (so it cannot come back).

The consume loop runs under the daemon's supervisor: if it fails, its consumer is closed and a
new one resumes from the last committed offset (nothing handed over twice is lost or doubled).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from pydantic import Field, field_validator, model_validator

from autoscaler.plugin import (
    BuildFinished,
    BuildStarted,
    DestroyListener,
    Duration,
    Event,
    ListenerSettings,
    PluginContext,
    Run,
    read_secret,
    singular_alias,
)
from autoscaler_kafka.messages import FieldMapping, MalformedMessage, to_event

log = logging.getLogger(__name__)
_SEEN = 10_000
STALE_AFTER = 60.0
"""A loop silent this long (it beats at every poll) is reported as hung."""


class KafkaSettings(ListenerSettings):
    """``type: kafka``: build events from Kafka topics."""

    bootstrap_servers: str
    """``host:port[,host:port...]`` of the brokers."""
    topics: tuple[str, ...] = Field(min_length=1)
    """Topics to consume (a single string is accepted, or ``topic:`` with one)."""
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

    @model_validator(mode="before")
    @classmethod
    def _topic_alias(cls, data: Any) -> Any:
        return singular_alias(data, "topic", "topics")

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
        self._run: Run | None = None
        self._consumer: Consumer | None = None
        self._lock = threading.Lock()
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
            "on_commit": self._on_commit,
            **self.kafka.client_config,
        }
        password = read_secret(
            file=self.kafka.sasl_password_file, env=self.kafka.sasl_password_env, what=f"{self.source} sasl-password"
        )
        if password:
            config["sasl.password"] = password
        return config

    def start(self) -> None:
        self._consumer = self._subscribed()  # a config error shows here, at start
        self._run = self.context.supervise(self.source, self._loop, stale_after=STALE_AFTER)
        log.info(
            "kafka listener %s consuming %s from %s (%s)",
            self.source,
            ", ".join(self.kafka.topics),
            self.kafka.bootstrap_servers,
            self.kafka.format,
        )

    def stop(self) -> None:
        if self._run is not None:
            self._run.stop(timeout=10)

    def _subscribed(self) -> Consumer:
        consumer = Consumer(self.consumer_config())
        consumer.subscribe(list(self.kafka.topics))
        return consumer

    def _loop(self, run: Run) -> None:
        with self._lock:
            consumer, self._consumer = self._consumer or self._subscribed(), None
        try:
            while not run.stopping.is_set():
                run.beat()
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
        finally:  # on a failure the supervisor starts a new consumer: it resumes at the committed offset
            try:
                consumer.close()
            except Exception as exc:
                log.warning("kafka %s: closing the consumer failed: %s", self.source, exc)

    def _commit(self, consumer: Consumer) -> None:
        """Commit what was handed over, without waiting: a synchronous commit in flight when the
        broker goes away blocks the loop up to the request timeout. The next commit covers these
        offsets too; :meth:`_on_commit` hears the outcome at a later poll."""
        try:
            consumer.commit(asynchronous=True)
        except KafkaException as exc:
            log.warning("kafka %s: commit failed (will retry with the next batch): %s", self.source, exc)

    def _on_commit(self, error: KafkaError | None, partitions: list[Any]) -> None:
        if error is None:
            self.committed += 1
            return
        self.context.count("commit-error")
        log.warning("kafka %s: commit failed (will retry with the next batch): %s", self.source, error)

    def handle(self, message: Message) -> None:
        """Turn one message into an engine event. One that cannot be parsed, for whatever reason,
        is counted, logged once with its topic, partition and offset, and skipped."""
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
        except Exception as exc:
            self.malformed += 1
            self.context.count("malformed")
            log.warning(
                "kafka %s: malformed message at %s[%s]@%s skipped: %s",
                self.source,
                message.topic(),
                message.partition(),
                message.offset(),
                exc if isinstance(exc, MalformedMessage) else f"{type(exc).__name__}: {str(exc)[:200]}",
            )
            return
        if event is None:
            self.context.count("ignored")
            return
        key = _dedup_key(event)
        if key is not None and key in self._seen:
            self.duplicates += 1
            self.context.count("duplicate")
            return
        self.context.emit(event)
        self.handled += 1
        if key is not None:  # remembered once handed over: a redelivery after a failed emit goes through
            self._seen[key] = None
            if len(self._seen) > _SEEN:
                self._seen.popitem(last=False)

    def _client_error(self, error: KafkaError) -> None:
        now = time.monotonic()
        if now - self._last_error > 30:  # a broker that is down reports every few hundred ms
            log.warning("kafka %s: %s (waiting for the brokers)", self.source, error)
            self._last_error = now
        self.context.count("client-error")


def _dedup_key(event: Event) -> tuple[str, str, str] | None:
    if not isinstance(event, BuildStarted | BuildFinished):
        return None
    return (type(event).__name__, event.node, event.build_key)


def _bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _headers(raw: Any) -> list[tuple[str, bytes | None]]:
    pairs = raw.items() if isinstance(raw, dict) else (raw or [])
    return [(str(k), _bytes(v)) for k, v in pairs]
