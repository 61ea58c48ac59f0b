"""Test helpers for live DDS: an isolated domain (random ROS_DOMAIN_ID, loopback-only Cyclone config).

Import the fixture into a test module: `from dds_env import dds_env  # noqa: F401`.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator

import pytest

from robot_logger.record.dds import LOOPBACK_CONFIG

__all__ = ["dds_env", "wait_until"]


@pytest.fixture
def dds_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment (also set in this process) for a private domain: pass it to subprocesses."""
    domain = str(random.randint(1, 230))
    monkeypatch.setenv("ROS_DOMAIN_ID", domain)
    monkeypatch.setenv("CYCLONEDDS_URI", LOOPBACK_CONFIG)
    yield dict(os.environ)


def wait_until(predicate: Callable[[], object], timeout_s: float = 5.0, step_s: float = 0.02) -> bool:
    """Poll `predicate` until it is truthy or `timeout_s` passes; returns the last truth value."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step_s)
    return True
