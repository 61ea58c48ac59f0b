"""The one module that uses cyclonedds' private raw-sample API (pinned: cyclonedds==11.0.1).

Typed take turns an image's `uint8[]` into a Python list (~24 ms a 640x480 frame); the raw path
moves the CDR bytes exactly as rosbag2 stores them (~0.06 ms). tests/test_transport.py checks that
these calls still behave as assumed whenever the pinned version changes.
"""

from __future__ import annotations

from typing import Any

from cyclonedds._clayer import ddspy_take, ddspy_write, ddspy_write_ts
from cyclonedds.core import DDSException, InstanceState, SampleState, ViewState
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader

from robot_logger.errors import TransportError

__all__ = ["take", "write", "pad4"]

_ANY = SampleState.Any | ViewState.Any | InstanceState.Any


def pad4(cdr: bytes) -> bytes:
    """Zero-pad CDR to a multiple of 4 bytes as the DDS serializer requires (readers accept it)."""
    extra = -len(cdr) % 4
    return cdr + b"\0" * extra if extra else cdr


def take(reader: DataReader[Any], max_samples: int) -> list[tuple[bytes, int]]:
    """Take up to `max_samples` samples as (CDR bytes, source timestamp ns); skip disposals."""
    ret = ddspy_take(reader._ref, _ANY, max_samples)
    if isinstance(ret, int):
        raise TransportError(f"dds take failed on {reader.topic.name}: {DDSException(ret)}")
    return [(data, info.source_timestamp) for data, info in ret if info.valid_data]


def write(writer: DataWriter[Any], cdr: bytes, source_ns: int | None = None) -> None:
    """Write raw CDR bytes (padded here); `source_ns` sets the source timestamp (else now)."""
    data = pad4(cdr)
    ref = writer._ref
    ret = ddspy_write(ref, data) if source_ns is None else ddspy_write_ts(ref, data, source_ns)
    if ret < 0:
        raise TransportError(f"dds write failed on {writer.topic.name}: {DDSException(ret)}")
