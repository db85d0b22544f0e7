"""docs/metrics.md names exactly the families a daemon exports, with their types and labels."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.registry import CollectorRegistry

from autoscaler.config import load_config
from autoscaler.daemon import Daemon
from autoscaler.engine import scrape

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
ROW = re.compile(r"^\| `([a-z_]+)` \| (gauge|counter|histogram) \|([^|]*)\|", re.M)


def documented() -> dict[str, tuple[str, set[str]]]:
    return {
        name: (kind, set(re.findall(r"`([a-z_]+)`", labels))) for name, kind, labels in ROW.findall(DOC.read_text())
    }


def exported(registry: CollectorRegistry) -> dict[str, tuple[str, set[str]]]:
    out: dict[str, tuple[str, set[str]]] = {}
    for family in registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = {k for s in family.samples for k in s.labels if k not in ("le",)}
        out[name] = (family.type, labels)
    return out


def test_every_exported_family_is_documented_with_its_type_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "controllers: [{url: 'http://127.0.0.1:9/', user: u, token: t0ken, agent-user: a, agent-token-env: A_TOKEN}]\n"
        f"driver: {{type: local, work-dir: '{tmp_path / 'work'}'}}\n"
        "labels:\n  - {name: python, command: 'true', max: 4}\n"
    )
    daemon = Daemon(load_config(str(path)), serve_api=False, dry_run=True)
    try:
        engine = daemon.engine
        scrape.sync(engine.state, daemon.config, engine.now())
        daemon.counters.counter("example")("ignored")
        have = exported(daemon.metrics.registry)
    finally:
        daemon.pool.shutdown(wait=False)
        daemon.fast_pool.shutdown(wait=False)
    docs = documented()
    assert sorted(set(have) - set(docs)) == [], "exported but not in docs/metrics.md"
    assert sorted(set(docs) - set(have)) == [], "in docs/metrics.md but not exported"
    for name, (kind, labels) in have.items():
        assert docs[name][0] == kind, name
        if labels:  # a labelled family with no sample yet shows no labels
            assert docs[name][1] == labels, name
