"""robot_logger.bag.info: `info` figures of simulated and hand-made bags, checked against truth."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from robot_logger.bag.info import inspect_bag
from robot_logger.core import messages
from robot_logger.core.messages import header_stamp_ns
from robot_logger.errors import BagError
from tests.support.bag_factory import START_NS, event_msgs, joint_msgs, text_msgs, write_bag

MS = 1_000_000
ARM1 = "/cell/arm1/joint_states"
CAM1 = "/cell/cam1/image_raw"


def truth(cell):
    """Per topic (log times, header stamps) straight from the simulator's own message stream."""
    out: dict[str, tuple[list[int], list[int]]] = {}
    for m in cell.messages():
        logs, stamps = out.setdefault(m.topic, ([], []))
        logs.append(m.log_ns)
        stamps.append(m.stamp_ns)
    return out


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_sim_round_trip_exact_counts_rates_and_latency(make_bag, storage):
    path, cell = make_bag(storage=storage, seed=3)
    report = inspect_bag(path)
    expected = truth(cell)
    topics = {t.topic: t for t in report.topics}
    counts = {t: s.stats.count for t, s in topics.items()}
    assert counts == {t: len(v[0]) for t, v in expected.items()}
    assert report.message_count == sum(len(v[0]) for v in expected.values())
    assert report.storage == storage and report.warnings == []
    assert report.start_ns == min(min(v[0]) for v in expected.values())
    arm = topics[ARM1].stats
    assert arm.clock == "header"
    assert arm.rate_hz == pytest.approx(cell.spec.joint_rate_hz, rel=1e-3)
    log, stamp = (np.array(a) for a in expected[ARM1])
    assert arm.latency_p50_ns == pytest.approx(np.percentile(log - stamp, 50), abs=1)
    assert 0.1 * MS <= arm.latency_p50_ns <= 2 * MS          # the sim's joint transport latency
    assert topics[CAM1].stats.period_p50_ns == pytest.approx(1e9 / cell.spec.camera_rate_hz, abs=1)
    assert (arm.gap_count, arm.backwards, arm.duplicates) == (0, 0, 0)


def test_sim_episodes_match_the_cell(make_bag):
    path, cell = make_bag(duration_s=4.0, episodes=2)
    report = inspect_bag(path)
    truth_eps = cell.episodes()
    got = report.episodes.episodes
    assert [(e.task, e.outcome) for e in got] == [(e.task, e.outcome) for e in truth_eps]
    assert report.episodes.outcomes == dict(sorted(Counter(e.outcome for e in truth_eps).items()))
    assert report.episodes.bad_events == 0


@pytest.mark.parametrize("faults, check", [
    (f"{ARM1}:outage=0.5-0.9", lambda s, clean: s.gap_count == 1
     and s.gaps[0][1] == pytest.approx(400 * MS, abs=4 * MS)),
    (f"{ARM1}:drop=0.3", lambda s, clean: s.count < 0.8 * clean.count and s.gap_count > 0),
    (f"{ARM1}:offset_ms=30", lambda s, clean: s.latency_p50_ns
     == pytest.approx(clean.latency_p50_ns - 30 * MS, abs=0.5 * MS)),
    (f"{ARM1}:jitter_ms=0.3", lambda s, clean: s.period_p99_ns > clean.period_p99_ns + 0.3 * MS),
    (f"{ARM1}:dup=0.1", lambda s, clean: s.duplicates == s.count - clean.count > 0),
    (f"{ARM1}:reorder=0.05", lambda s, clean: s.backwards > 0 and s.duplicates == 0),
])
def test_each_fault_kind_is_visible(make_bag, faults, check):
    small = {"arms": 1, "cameras": 0, "lidar": False}
    clean_path, _ = make_bag("clean", **small)
    path, _ = make_bag("faulty", faults=faults, **small)
    clean = {t.topic: t.stats for t in inspect_bag(clean_path).topics}[ARM1]
    stats = {t.topic: t.stats for t in inspect_bag(path).topics}[ARM1]
    assert check(stats, clean), stats


def test_truncated_sim_bag_is_an_error_that_asks_for_repair(make_bag):
    path, _ = make_bag(faults="truncate=0.6")
    with pytest.raises(BagError, match="robot-logger repair"):
        inspect_bag(path)


def test_hand_made_bag_figures(tmp_path):
    msgs = (joint_msgs("/j", 100, 10 * MS, latency_ns=2 * MS)
            + text_msgs("/chatter", ["x"] * 5, 100 * MS)
            + event_msgs([("weld", "success"), ("weld", "failure")]))
    path = write_bag(tmp_path / "bag", msgs, "sqlite3")
    report = inspect_bag(path)
    d = report.to_dict()
    assert d["message_count"] == 111
    assert d["duration_ns"] == max(m.log_ns for m in msgs) - min(m.log_ns for m in msgs)
    j = d["topics"]["/j"]
    assert (j["count"], j["rate_hz"], j["period_p50_ns"]) == (100, 100.0, 10 * MS)
    assert j["latency_p99_ns"] == 2 * MS
    assert d["topics"]["/chatter"]["clock"] == "log"
    assert d["episodes"]["count"] == 2
    assert d["episodes"]["outcomes"] == {"failure": 1, "success": 1}
    assert d["episodes"]["episodes"][0]["phases"] == ["work"]
    assert header_stamp_ns(msgs[0].raw) == START_NS


def test_empty_bag_has_no_division_by_zero(tmp_path):
    path = write_bag(tmp_path / "bag", [], "mcap")
    report = inspect_bag(path)
    assert (report.message_count, report.duration_ns, report.topics) == (0, 0, [])


def test_single_instant_bag(tmp_path):
    msgs = text_msgs("/a", ["1", "2", "3"], 0)
    report = inspect_bag(write_bag(tmp_path / "bag", msgs, "mcap"))
    stats = report.topics[0].stats
    assert (report.duration_ns, stats.count, stats.rate_hz) == (0, 3, None)


def test_bad_event_payloads_are_counted(tmp_path):
    msgs = text_msgs(messages.EVENTS_TOPIC, ["not json", '{"type": "dance"}'], MS)
    report = inspect_bag(write_bag(tmp_path / "bag", msgs, "mcap"))
    assert report.episodes.bad_events == 2 and report.episodes.episodes == []


def test_progress_callback_counts_every_message(make_bag):
    path, cell = make_bag()
    seen = []
    report = inspect_bag(path, progress=seen.append)
    assert sum(seen) == report.message_count == sum(1 for _ in cell.messages())


def test_bad_events_and_unknown_outcomes_are_warnings(tmp_path):
    texts = ['{"type": "episode_start", "task": "t"}', "not json",
             '{"type": "episode_end", "outcome": "succeeded"}']
    report = inspect_bag(write_bag(tmp_path / "bag", text_msgs(messages.EVENTS_TOPIC, texts, MS)))
    assert report.episodes.bad_events == 1
    assert [e.outcome for e in report.episodes.episodes] == ["unknown"]
    assert any("1 malformed events skipped" in w for w in report.warnings)
    assert any("outcome 'succeeded'" in w for w in report.warnings)


def test_an_unsynchronised_device_clock_is_estimated_and_named(make_bag):
    """A camera whose stamps run 350 ms ahead (50 ppm drift): `info` estimates the offset from the
    lower envelope of log - header (the offset plus the camera's smallest latency, >= 5 ms in the
    simulator, <= its 40 ms maximum) and warns for that topic only."""
    bag, _ = make_bag(duration_s=12.0,
                      faults="/cell/cam1/image_raw:clock_offset_ms=350,drift_ppm=50")
    report = inspect_bag(bag)
    stats = {t.topic: t.stats for t in report.topics}
    shifted = stats["/cell/cam1/image_raw"].clock_offset_ns
    synced = stats["/cell/cam2/image_raw"].clock_offset_ns
    assert shifted is not None and -350e6 + 5e6 <= shifted <= -350e6 + 40e6
    assert synced is not None and 5e6 <= synced <= 40e6
    assert stats["/robot_logger/events"].clock_offset_ns is None  # no header: nothing to fit
    named = [w for w in report.warnings if "unsynchronised device clock" in w]
    assert len(named) == 1 and named[0].startswith("/cell/cam1/image_raw")
