"""A Kubernetes API double (real HTTP, for the official client) with a simulated kubelet."""

from autoscaler.testing.kubernetes.kubelet import Kubelet
from autoscaler.testing.kubernetes.server import KubeApi

__all__ = ["KubeApi", "Kubelet"]
