"""Talking to Jenkins controllers (python-jenkins underneath)."""
