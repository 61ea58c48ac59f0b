"""SyncMonitor: rates, drops inferred from header-stamp gaps, latency, warnings (pure logic)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from robot_logger.record.monitor import (
    MonitorLimits,
    RecorderStatus,
    SyncMonitor,
    TopicProblems,
)

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def feed_stream(
    monitor: SyncMonitor, topic: str, stamps: np.ndarray, latency_ns: int, nbytes: int = 100
) -> None:
    """Feed one message per batch, received `latency_ns` after its stamp."""
    for stamp in stamps.tolist():
        monitor.feed(topic, [stamp], stamp + latency_ns, nbytes)


def test_rate_latency_and_counts_at_the_expected_rate():
    monitor = SyncMonitor({"/js": 500.0}, start_ns=T0)
    stamps = T0 + np.arange(500) * 2_000_000
    feed_stream(monitor, "/js", stamps, latency_ns=3_000_000)
    status = monitor.status(T0 + NS + 3_000_000)
    topic = status.topics["/js"]
    assert topic.count == 500 and topic.bytes == 50_000
    assert abs(topic.rate_hz - 500) < 5
    assert topic.expected_hz == 500
    assert topic.drops == 0
    assert topic.latency_ms_mean == 3.0 and topic.latency_ms_max == 3.0
    assert status.warnings == ()


def test_drops_are_inferred_from_stamp_gaps_with_a_given_rate():
    monitor = SyncMonitor({"/cam": 30.0}, start_ns=T0)
    period = NS // 30
    kept = np.delete(np.arange(90), [10, 11, 12, 50])  # 4 frames missing, one gap of 3
    feed_stream(monitor, "/cam", T0 + kept * period, latency_ns=1_000_000)
    assert monitor.status(T0 + 3 * NS).topics["/cam"].drops == 4


def test_period_is_estimated_from_stamps_when_no_rate_is_given():
    monitor = SyncMonitor(start_ns=T0)
    period = 10_000_000
    kept = np.delete(np.arange(200), [100, 150, 151])
    monitor.feed("/lidar", T0 + kept[:60] * period, T0 + NS, 6000)  # one batch of many
    monitor.feed("/lidar", T0 + kept[60:] * period, T0 + 2 * NS, 14000)
    topic = monitor.status(T0 + 2 * NS).topics["/lidar"]
    assert topic.expected_hz == 100.0
    assert topic.drops == 3



def test_a_late_message_is_not_a_drop_and_a_restarted_clock_is_followed():
    """Stamps 0..59 at 30 Hz with three pairs swapped in transit and two frames really lost: two
    drops. Gaps measured between neighbours counted each swap twice (8 in all), so a stream that
    only arrived out of order was reported `dropping`. A device whose clock restarts (its stamps
    jump back 5 s) goes on being measured from its new stamps."""
    monitor = SyncMonitor({"/cam": 30.0}, start_ns=T0)
    period = NS // 30
    order = list(range(60))
    for i in (10, 25, 40):
        order[i], order[i + 1] = order[i + 1], order[i]
    order.remove(50)
    order.remove(55)
    feed_stream(monitor, "/cam", T0 + np.array(order) * period, latency_ns=1_000_000)
    assert monitor.status(T0 + 2 * NS).topics["/cam"].drops == 2
    restarted = T0 - 5 * NS + np.delete(np.arange(60), [30]) * period
    feed_stream(monitor, "/cam", restarted, latency_ns=1_000_000)
    assert monitor.status(T0 + 4 * NS).topics["/cam"].drops == 3


def test_drops_are_not_inferred_on_a_topic_with_several_publishers():
    """/diagnostics from two nodes, each at 10 Hz: their stamps interleave unevenly, and gaps in
    the merged stamps are no losses. With the publisher count known, no drop is inferred and no
    `dropping` warning is given; with one publisher again, inference resumes."""
    monitor = SyncMonitor(start_ns=T0)
    monitor.set_publishers("/diagnostics", 2)
    first = T0 + np.arange(40) * (NS // 10)
    second = first + 13_000_000
    merged = np.sort(np.concatenate([first, second[::2], second[1::4]]))
    feed_stream(monitor, "/diagnostics", merged, latency_ns=1_000_000)
    status = monitor.status(T0 + 4 * NS)
    assert status.topics["/diagnostics"].drops == 0
    assert not any("dropping" in w for w in status.warnings)
    monitor.set_publishers("/diagnostics", 1)
    kept = np.delete(np.arange(40, 80), [30])   # after the 20 intervals that give the period
    feed_stream(monitor, "/diagnostics", T0 + kept * (NS // 10), latency_ns=1_000_000)
    assert monitor.status(T0 + 8 * NS).topics["/diagnostics"].drops == 1

def test_messages_without_header_are_counted_but_not_used_for_drops():
    monitor = SyncMonitor({"/events": 1.0}, start_ns=T0)
    monitor.feed("/events", [0, 0, 0], T0 + NS, 30)
    topic = monitor.status(T0 + NS).topics["/events"]
    assert topic.count == 3 and topic.drops == 0 and topic.latency_ms_mean is None


def test_silent_stale_late_and_low_rate_warnings():
    limits = MonitorLimits(silent_after_s=3, stale_min_s=1, late_ms=50)
    monitor = SyncMonitor({"/fast": 100.0, "/slow": 100.0}, limits, start_ns=T0)
    monitor.add_topic("/never")
    feed_stream(monitor, "/fast", T0 + np.arange(100) * 10_000_000, latency_ns=80_000_000)
    feed_stream(monitor, "/slow", T0 + np.arange(0, 100, 4) * 10_000_000, latency_ns=1_000_000)
    status = monitor.status(T0 + NS + 80_000_000)
    text = "\n".join(status.warnings)
    assert "/fast: late: header stamps 80 ms behind receive time" in text
    assert "low rate" not in text  # a stream's first window says nothing about its rate
    assert "/never" not in text  # not silent yet: only 1 s since start
    feed_stream(
        monitor, "/slow", T0 + NS + np.arange(0, 100, 4) * 10_000_000, latency_ns=1_000_000
    )
    assert (
        "/slow: low rate: 25.0 Hz, expected 100.0 Hz"
        in monitor.status(T0 + 2 * NS + 80_000_000).warnings
    )
    later = monitor.status(T0 + 5 * NS)
    text = "\n".join(later.warnings)
    assert "/never: silent: nothing received for 5 s" in text
    assert "/fast: stale: last message" in text


def test_topic_problems_become_warnings():
    monitor = SyncMonitor(start_ns=T0)
    problems = TopicProblems(
        unmatched={"/cell/cam1/image_raw": "QoS mismatch: reliability"},
        skipped={"/custom": "message type my/msg/X is unknown"},
        absent={"/typo": "no publisher; topics seen: /a"},
    )
    assert list(monitor.status(T0 + NS, problems).warnings) == [
        "/cell/cam1/image_raw: never matched: QoS mismatch: reliability",
        "/custom: not recorded: message type my/msg/X is unknown",
        "/typo: not published: no publisher; topics seen: /a",
    ]


def test_rates_are_per_window():
    monitor = SyncMonitor({"/js": 100.0}, start_ns=T0)
    feed_stream(monitor, "/js", T0 + np.arange(100) * 10_000_000, latency_ns=0)
    first = monitor.status(T0 + NS).topics["/js"].rate_hz
    feed_stream(monitor, "/js", T0 + NS + np.arange(50) * 20_000_000, latency_ns=0)
    second = monitor.status(T0 + 2 * NS).topics["/js"].rate_hz
    assert abs(first - 100) < 2 and abs(second - 50) < 2


def test_irregular_topics_are_counted_but_never_warned_about():
    monitor = SyncMonitor(start_ns=T0, irregular=frozenset({"/events"}))
    monitor.add_topic("/events")
    assert monitor.status(T0 + 10 * NS).warnings == ()
    monitor.feed("/events", [0], T0 + 11 * NS, 40)
    status = monitor.status(T0 + 30 * NS)
    assert status.warnings == () and status.topics["/events"].count == 1


def _recorder_status(monitor: SyncMonitor, now_ns: int) -> RecorderStatus:
    """A status with the writer idle: the monitor's part plus zero/empty facts."""
    return RecorderStatus(
        *monitor.status(now_ns),
        queue_messages=0,
        queue_bytes=0,
        bytes_written=0,
        disk_free_bytes=0,
        written={},
        dropped_queue={},
        unmatched={},
        skipped={},
        absent={},
        bags=(),
        transport="dds",
        domain_id=0,
    )


def test_status_json_keeps_the_wire_format_and_reads_back():
    """The /robot_logger/status keys subscribers rely on; stop_reason and dropped_at_stop only
    in the final one."""
    monitor = SyncMonitor({"/js": 100.0}, start_ns=T0)
    feed_stream(monitor, "/js", T0 + np.arange(100) * 10_000_000, latency_ns=2_000_000)
    status = replace(_recorder_status(monitor, T0 + NS), written={"/js": 100}, bags=("b",))
    wire = json.loads(status.to_json())
    assert list(wire) == [
        "time_ns", "elapsed_s", "topics", "warnings", "queue_messages", "queue_bytes",
        "bytes_written", "disk_free_bytes", "written", "dropped_queue", "unmatched", "skipped",
        "absent", "bags", "transport", "domain_id",
    ]
    assert wire["topics"]["/js"] == {
        "count": 100, "bytes": 10_000, "rate_hz": 100.0, "expected_hz": 100.0, "drops": 0,
        "latency_ms_mean": 2.0, "latency_ms_max": 2.0,
    }
    assert wire["written"] == {"/js": 100} and wire["bags"] == ["b"] and wire["warnings"] == []
    assert RecorderStatus.from_json(status.to_json()) == status
    final = replace(status, stop_reason="stopped", dropped_at_stop={"/js": 0})
    assert json.loads(final.to_json())["stop_reason"] == "stopped"
    assert json.loads(final.to_json())["dropped_at_stop"] == {"/js": 0}
    assert RecorderStatus.from_json(final.to_json()) == final
    assert final.messages_written == 100


def test_a_dropping_stream_is_a_warning_in_the_window_it_dropped_in():
    """Drops were only a column of the terminal table: the one-line status (not a TTY) and the
    recorder node's log, which print the warnings, never said a stream was dropping."""
    monitor = SyncMonitor({"/cam": 30.0}, start_ns=T0)
    period = NS // 30
    feed_stream(monitor, "/cam", T0 + np.arange(30) * period, latency_ns=1_000_000)
    assert monitor.status(T0 + NS).warnings == ()
    kept = np.delete(np.arange(30, 60), [5, 6, 20])   # 3 of 30 lost: the rate stays above 80 %
    feed_stream(monitor, "/cam", T0 + kept * period, latency_ns=1_000_000)
    assert monitor.status(T0 + 2 * NS).warnings == (
        "/cam: dropping: 3 missing in the last 1.0 s (header-stamp gaps; 3 since the start)",)
    feed_stream(monitor, "/cam", T0 + np.arange(60, 90) * period, latency_ns=1_000_000)
    assert monitor.status(T0 + 3 * NS).warnings == ()
