"""Test helpers for live DDS: an isolated domain (random ROS_DOMAIN_ID, loopback-only Cyclone).

In a test: `env = private_domain(monkeypatch)` (the env to pass to subprocesses, also set here).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable

import pytest

from robot_logger.transport.dds import LOOPBACK_CONFIG

__all__ = ["private_domain", "wait_until"]


def private_domain(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Join a random domain over loopback in this test (undone after it); returns the environment
    to give subprocesses so they join the same domain. Domains 1..115 only: the real-ROS 2 tests
    take 116..232, so a `ros2` daemon (a node with /rosout, /parameter_events) never shares a
    domain with a test that records `--all` (seen: two stray topics in a lossless-count check)."""
    monkeypatch.setenv("ROS_DOMAIN_ID", str(random.randint(1, 115)))
    monkeypatch.setenv("CYCLONEDDS_URI", LOOPBACK_CONFIG)
    return dict(os.environ)


def wait_until(
    predicate: Callable[[], object], timeout_s: float = 5.0, step_s: float = 0.02
) -> bool:
    """Poll `predicate` until it is truthy or `timeout_s` passes; returns the last truth value."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step_s)
    return True
