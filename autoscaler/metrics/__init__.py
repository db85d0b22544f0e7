"""The daemon's Prometheus metrics: the families (:mod:`.families`), the start-up phases
(:mod:`.phases`) and the bounded usage history (:mod:`.usage`). Below the engine: these modules
import no engine, no driver and no I/O."""
