"""librdkafka's mock cluster with its broker switches: the real Kafka protocol on loopback, and a
broker that can be taken down (connections cut, new ones refused) and brought back.

confluent-kafka does not wrap the mock-cluster API, so it is reached through ctypes in the very
librdkafka library confluent-kafka loads.
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Iterator

import confluent_kafka
import pytest


def _librdkafka() -> ctypes.CDLL:
    libs = os.path.join(os.path.dirname(confluent_kafka.__file__), os.pardir, "confluent_kafka.libs")
    found = glob.glob(os.path.join(libs, "librdkafka*.so*"))
    if not found:
        pytest.skip("confluent-kafka's bundled librdkafka not found (the mock-cluster switches need it)")
    lib = ctypes.CDLL(found[0])
    ptr, size, text = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p
    for name, restype, argtypes in (
        ("rd_kafka_conf_new", ptr, []),
        ("rd_kafka_conf_set", ctypes.c_int, [ptr, text, text, text, size]),
        ("rd_kafka_new", ptr, [ctypes.c_int, ptr, text, size]),
        ("rd_kafka_destroy", None, [ptr]),
        ("rd_kafka_mock_cluster_new", ptr, [ptr, ctypes.c_int]),
        ("rd_kafka_mock_cluster_destroy", None, [ptr]),
        ("rd_kafka_mock_cluster_bootstraps", text, [ptr]),
        ("rd_kafka_mock_broker_set_down", ctypes.c_int, [ptr, ctypes.c_int32]),
        ("rd_kafka_mock_broker_set_up", ctypes.c_int, [ptr, ctypes.c_int32]),
    ):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


class MockCluster:
    """One mock broker (id 1) hosted by a bare librdkafka handle."""

    def __init__(self) -> None:
        self.lib = _librdkafka()
        err = ctypes.create_string_buffer(512)
        conf = self.lib.rd_kafka_conf_new()
        for key, value in (("log_level", "0"), ("bootstrap.servers", "127.0.0.1:1")):
            self.lib.rd_kafka_conf_set(conf, key.encode(), value.encode(), err, len(err))
        self.rk = self.lib.rd_kafka_new(0, conf, err, len(err))  # 0: a producer handle
        assert self.rk, err.value.decode()
        self.cluster = self.lib.rd_kafka_mock_cluster_new(self.rk, 1)
        self.bootstrap: str = self.lib.rd_kafka_mock_cluster_bootstraps(self.cluster).decode()

    def down(self) -> None:
        assert self.lib.rd_kafka_mock_broker_set_down(self.cluster, 1) == 0

    def up(self) -> None:
        assert self.lib.rd_kafka_mock_broker_set_up(self.cluster, 1) == 0

    def close(self) -> None:
        self.lib.rd_kafka_mock_cluster_destroy(self.cluster)
        self.lib.rd_kafka_destroy(self.rk)


@pytest.fixture
def mock_cluster() -> Iterator[MockCluster]:
    cluster = MockCluster()
    yield cluster
    cluster.close()
