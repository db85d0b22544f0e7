"""A simulated Jenkins controller for tests and the demo."""

from autoscaler.testing.jenkins.faults import Fault, FaultRegistry
from autoscaler.testing.jenkins.model import JenkinsModel, Node
from autoscaler.testing.jenkins.server import SimJenkins

__all__ = ["Fault", "FaultRegistry", "JenkinsModel", "Node", "SimJenkins"]
