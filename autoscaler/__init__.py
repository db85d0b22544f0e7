"""autoscaler: gives Jenkins exactly the agents its queue asks for, and removes them when their
work is done.

The names plugin authors import live here (the same as :mod:`autoscaler.plugin`, where each is
documented); :mod:`autoscaler.wire` holds the wire parsers plugins share. Everything else is internal.
"""

from typing import TYPE_CHECKING, Any

from autoscaler.plugin import (
    AgentChanged,
    AgentHandle,
    BuildFinished,
    BuildStarted,
    ControllerInfo,
    DemandItem,
    DemandListener,
    DemandRefresh,
    DemandReport,
    DemandUnknown,
    DestroyListener,
    Driver,
    DriverError,
    DriverSettings,
    DriverStatus,
    Duration,
    Event,
    Expr,
    JenkinsAPI,
    LabelExpressionError,
    LabelInfo,
    LaunchSpec,
    LifecycleHint,
    ListenerSettings,
    NodeOffline,
    NodeOnline,
    NodeView,
    PluginContext,
    PluginKind,
    Quantity,
    RateLimiter,
    Run,
    SecretError,
    SettingsModel,
    expression_matches,
    parse_expression,
    read_secret,
    singular_alias,
)

if TYPE_CHECKING:
    from autoscaler.plugin import JenkinsError
else:

    def __getattr__(name: str) -> Any:  # loads python-jenkins only when asked for
        if name == "JenkinsError":
            from autoscaler.plugin import JenkinsError

            return JenkinsError
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AgentChanged",
    "AgentHandle",
    "BuildFinished",
    "BuildStarted",
    "ControllerInfo",
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
    "Duration",
    "Event",
    "Expr",
    "JenkinsAPI",
    "JenkinsError",
    "LabelExpressionError",
    "LabelInfo",
    "LaunchSpec",
    "LifecycleHint",
    "ListenerSettings",
    "NodeOffline",
    "NodeOnline",
    "NodeView",
    "PluginContext",
    "PluginKind",
    "Quantity",
    "RateLimiter",
    "Run",
    "SecretError",
    "SettingsModel",
    "expression_matches",
    "parse_expression",
    "read_secret",
    "singular_alias",
]
