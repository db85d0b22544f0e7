"""Demand from the Jenkins build queue (``type: jenkins-queue``)."""

from autoscaler_jenkins_queue.listener import JenkinsQueueListener, QueueSettings
from autoscaler_jenkins_queue.why import Reason, parse_why

__all__ = ["JenkinsQueueListener", "QueueSettings", "Reason", "parse_why"]
