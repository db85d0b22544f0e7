"""Configuration: models, loading with line numbers, KubeStack compatibility."""

from autoscaler.config.errors import ConfigError, Problem
from autoscaler.config.loader import LoadedConfig, config_path, load_config, parse_config
from autoscaler.config.models import (
    ApiConfig,
    Config,
    ControllerConfig,
    DaemonConfig,
    LabelConfig,
    LimitsConfig,
    PluginEntry,
)

__all__ = [
    "ApiConfig",
    "Config",
    "ConfigError",
    "ControllerConfig",
    "DaemonConfig",
    "LabelConfig",
    "LimitsConfig",
    "LoadedConfig",
    "PluginEntry",
    "Problem",
    "config_path",
    "load_config",
    "parse_config",
]
