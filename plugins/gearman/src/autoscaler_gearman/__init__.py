"""Demand from Gearman (Zuul) queues (``type: gearman``)."""

from autoscaler_gearman.listener import GearmanListener, GearmanSettings
from autoscaler_gearman.status import FunctionStatus, StatusError, demand_items, parse_status

__all__ = ["FunctionStatus", "GearmanListener", "GearmanSettings", "StatusError", "demand_items", "parse_status"]
