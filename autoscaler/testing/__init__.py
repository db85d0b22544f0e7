"""Test doubles and helpers shipped for users and plugin authors.

- :class:`autoscaler.testing.jenkins.SimJenkins`: a simulated Jenkins over real HTTP (queue with
  the real ``why`` texts, ``/computer``, crumbs tied to session cookies, Basic auth, swarm
  ``createSlave``, ``doDelete``, ``toggleOffline``, builds that run for a set time) with a real
  ZMQ PUB socket emitting the zmq-event-publisher's frames.
- ``python -m autoscaler.testing.swarm_agent``: a simulated swarm client taking the real client's flags.
"""
