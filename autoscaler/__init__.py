"""autoscaler: gives Jenkins exactly the agents its queue asks for, and removes them when their
work is done.

The names plugin authors import live here; everything else is internal.
"""

from autoscaler.events import (
    BuildFinished,
    BuildStarted,
    DemandItem,
    DemandRefresh,
    DemandReport,
    Event,
    LifecycleHint,
    NodeOffline,
    NodeOnline,
)
from autoscaler.plugin import (
    AgentHandle,
    DemandListener,
    DemandUnknown,
    DestroyListener,
    Driver,
    DriverError,
    DriverSettings,
    DriverStatus,
    LaunchSpec,
    ListenerSettings,
    PluginContext,
)

__all__ = [
    "AgentHandle",
    "BuildFinished",
    "BuildStarted",
    "DemandItem",
    "DemandListener",
    "DemandRefresh",
    "DemandReport",
    "DemandUnknown",
    "DestroyListener",
    "Driver",
    "DriverError",
    "DriverSettings",
    "DriverStatus",
    "Event",
    "LaunchSpec",
    "LifecycleHint",
    "ListenerSettings",
    "NodeOffline",
    "NodeOnline",
    "PluginContext",
]
