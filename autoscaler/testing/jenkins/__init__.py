"""A simulated Jenkins controller for tests and the demo."""

from autoscaler.testing.jenkins.model import JenkinsModel, Node
from autoscaler.testing.jenkins.server import SimJenkins

__all__ = ["JenkinsModel", "Node", "SimJenkins"]
