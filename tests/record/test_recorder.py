"""Recorder core: the bag writer thread (flush bound, splits, min-free, drops), topic selection,
parameters, and a live recording over Cyclone DDS with a topic that appears late."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from mcap.reader import make_reader
from mcap.records import Message
from mcap.stream_reader import StreamReader

from robot_logger.bag.reader import open_bag
from robot_logger.cli import main
from robot_logger.core import events
from robot_logger.core import messages as m
from robot_logger.errors import BagError, ConfigError
from robot_logger.record.bagsink import BagSink, SinkOptions
from robot_logger.record.monitor import RecorderStatus, SyncMonitor, TopicProblems
from robot_logger.record.params import RECORD_PARAMS, parse_expect, record_options
from robot_logger.record.recorder import Recorder, RecordOptions, TopicSelector
from robot_logger.transport import open_transport, qos
from robot_logger.transport.base import RawPublisher, Transport
from tests.support.dds_env import private_domain, wait_until
from tests.support.paths import CONFIG

STAMP_NS = 1_700_000_000_000_000_000
RECV_NS = 1_800_000_000_000_000_000
JOINTS = "/cell/arm1/joint_states"


def joint_cdr(i: int) -> bytes:
    return m.serialize(
        m.joint_state(
            STAMP_NS + i * 2_000_000, ["j"], np.array([float(i)]), np.zeros(1), np.zeros(1)
        ),
        m.JOINT_STATE,
    )


def event_cdr(payload: str) -> bytes:
    return m.serialize(m.string(payload), m.STRING)


def put_joints(sink: BagSink, first: int, count: int) -> None:
    for i in range(first, first + count):
        assert sink.put(JOINTS, RECV_NS + i * 2_000_000, [(joint_cdr(i), STAMP_NS + i)]) == 0


def sink(path: Path, **options: object) -> BagSink:
    created = BagSink(path, SinkOptions(min_free_bytes=0, **options))
    created.add_topic(JOINTS, m.JOINT_STATE)
    created.add_topic(m.EVENTS_TOPIC, m.STRING)
    return created


def count_messages(path: Path) -> dict[str, int]:
    with open_bag(path) as bag:
        return {topic: info.count for topic, info in bag.topics.items()}


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("compression", [None, "zstd"])
def test_written_bag_reads_back_with_receive_times(tmp_path, storage, compression):
    writer = sink(tmp_path / "bag", storage=storage, compression=compression)
    put_joints(writer, 0, 200)
    stats = writer.close()
    assert (
        stats.written[JOINTS] == 200 and stats.dropped[JOINTS] == 0 and writer.stop_reason is None
    )
    with open_bag(tmp_path / "bag") as bag:
        rows = list(bag.messages())
    assert [log for _, _, log, _ in rows] == [RECV_NS + i * 2_000_000 for i in range(200)]
    assert bytes(rows[5][3]) == joint_cdr(5)


def test_mcap_keeps_send_time_as_publish_time(tmp_path):
    writer = sink(tmp_path / "bag")
    put_joints(writer, 0, 10)
    writer.close()
    (mcap_file,) = (tmp_path / "bag").glob("*.mcap")
    with mcap_file.open("rb") as stream:
        times = [
            (msg.log_time, msg.publish_time) for _, _, msg in make_reader(stream).iter_messages()
        ]
    assert times == [(RECV_NS + i * 2_000_000, STAMP_NS + i) for i in range(10)]


def test_mcap_chunks_reach_the_file_within_a_flush_interval(tmp_path):
    writer = sink(tmp_path / "bag", flush_interval_s=0.5)
    put_joints(
        writer, 0, 300
    )  # ~30 kB: far below a 1 MiB chunk, so only the timed flush writes it
    time.sleep(1.2)
    (mcap_file,) = (tmp_path / "bag").glob("*.mcap")
    records = StreamReader(mcap_file.open("rb"), skip_magic=False, emit_chunks=False).records
    flushed = 0
    try:
        for record in records:
            flushed += isinstance(record, Message)
    except Exception:
        pass
    writer.close()
    assert flushed == 300


def test_sqlite3_commits_within_a_flush_interval(tmp_path):
    writer = sink(tmp_path / "bag", storage="sqlite3", flush_interval_s=0.5)
    put_joints(writer, 0, 300)
    time.sleep(1.2)
    (db,) = (tmp_path / "bag").glob("*.db3")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        committed = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    writer.close()
    assert committed == 300


def test_split_by_size_writes_one_bag_folder_like_rosbag2(tmp_path):
    writer = sink(tmp_path / "run", split_size_bytes=10_000)
    start, approach = events.episode_start("weld A3"), events.phase("approach")
    writer.put(m.EVENTS_TOPIC, RECV_NS, [(event_cdr(start), 0), (event_cdr(approach), 0)])
    put_joints(writer, 1, 400)  # ~40 kB of joints -> several files
    stats = writer.close()
    assert stats.bags == [tmp_path / "run"]
    files = sorted((tmp_path / "run").iterdir())
    names = [p.name for p in files if p.suffix == ".mcap"]
    assert len(names) >= 3 and (tmp_path / "run" / "metadata.yaml") in files
    info = yaml.safe_load((tmp_path / "run" / "metadata.yaml").read_text())
    info = info["rosbag2_bagfile_information"]
    assert info["version"] == 8
    assert info["relative_file_paths"] == [f"run_{i}.mcap" for i in range(len(names))]
    assert sum(f["message_count"] for f in info["files"]) == info["message_count"] == 402
    assert count_messages(tmp_path / "run") == {JOINTS: 400, m.EVENTS_TOPIC: 2}
    with open_bag(tmp_path / "run") as reader:   # the events once, not again in each file
        texts = [m.deserialize(raw, m.STRING).data
                 for _, _, _, raw in reader.messages([m.EVENTS_TOPIC])]
    assert texts == [start, approach]


def test_split_by_duration(tmp_path):
    writer = sink(tmp_path / "run", split_duration_ns=200_000_000)
    put_joints(writer, 0, 500)  # 1 s of receive time -> 5 files of 0.2 s
    writer.close()
    info = yaml.safe_load((tmp_path / "run" / "metadata.yaml").read_text())
    files = info["rosbag2_bagfile_information"]["files"]
    assert [f["message_count"] for f in files] == [100] * 5
    assert count_messages(tmp_path / "run") == {JOINTS: 500}


def test_min_free_stops_cleanly_and_keeps_what_was_received(tmp_path):
    batch = [(joint_cdr(i), 0) for i in range(50)]
    writer = BagSink(tmp_path / "bag", SinkOptions(min_free_bytes=1 << 62, flush_interval_s=0.5))
    writer.add_topic(JOINTS, m.JOINT_STATE)
    assert writer.put(JOINTS, RECV_NS, batch) == 0
    assert wait_until(lambda: writer.stopped, 3.0)
    writer.close()
    assert (
        "disk nearly full" in writer.stop_reason and "bag was closed cleanly" in writer.stop_reason
    )
    assert count_messages(tmp_path / "bag") == {JOINTS: 50}
    assert writer.put(JOINTS, RECV_NS, [(joint_cdr(0), 0)]) == 1  # refused, and counted
    assert writer.stats.dropped[JOINTS] == 1


def test_queue_overflow_is_counted_never_silent(tmp_path):
    writer = sink(tmp_path / "bag", queue_limit_bytes=1000)
    big = [(joint_cdr(i), 0) for i in range(50)]  # ~3.8 kB in one batch > the 1 kB queue
    assert writer.put(JOINTS, RECV_NS, big) == 50
    stats = writer.close()
    assert stats.dropped[JOINTS] == 50 and stats.written[JOINTS] == 0


def test_record_cli_min_free_exits_2_with_one_line_and_a_closed_bag(monkeypatch, tmp_path):
    """In-process CLI run (tests/test_record_e2e.py has the version with a live publisher)."""
    private_domain(monkeypatch)
    result = CliRunner().invoke(
        main,
        [
            "record",
            "-o",
            str(tmp_path / "bag"),
            "--all",
            "--transport",
            "dds",
            "--min-free",
            "1000000000",
            "--duration",
            "20",
            "--quiet",
        ],
    )
    assert result.exit_code == 2
    assert result.output.startswith("error: disk nearly full") and result.output.count("\n") == 1
    assert (tmp_path / "bag" / "metadata.yaml").is_file()


def test_existing_output_is_refused(tmp_path):
    (tmp_path / "bag").mkdir()
    with pytest.raises(BagError, match="exists already"):
        BagSink(tmp_path / "bag", SinkOptions())


def test_topic_selection():
    chosen = TopicSelector(("/a",), regex=r"^/cell/cam\d", exclude=r"depth")
    assert chosen.wants("/a") and chosen.wants("/cell/cam1/image_raw")
    assert not chosen.wants("/cell/cam1/depth") and not chosen.wants("/b")
    assert chosen.wants(m.EVENTS_TOPIC)  # episodes are always recorded
    everything = TopicSelector(all_topics=True, exclude="^/tf")
    assert everything.wants("/x") and not everything.wants("/tf_static")
    assert not everything.wants(m.STATUS_TOPIC)  # diagnostics only when asked for
    assert TopicSelector((m.STATUS_TOPIC,)).wants(m.STATUS_TOPIC)
    hidden = "/arm/_action/status"   # rosbag2 records these only with --include-hidden-topics
    assert not everything.wants(hidden) and not TopicSelector(regex="arm").wants(hidden)
    assert TopicSelector((hidden,)).wants(hidden)
    assert TopicSelector(all_topics=True, include_hidden=True).wants(hidden)
    with pytest.raises(ConfigError, match="regular expression"):
        TopicSelector(regex="(")
    with pytest.raises(ConfigError, match="must start with '/'"):
        TopicSelector(("cell/x",))


def test_parameters_make_validated_options(tmp_path):
    path, transport, options = record_options(
        {
            "output": str(tmp_path / "b"),
            "topics": ["/a,/b", "/c"],
            "split_size": 2,
            "expect": ["/a=500"],
            "transport": "dds",
        }
    )
    assert path == tmp_path / "b" and transport == "dds"
    assert options.selector.topics == ("/a", "/b", "/c")
    assert options.sink.split_size_bytes == 2 << 20 and options.expected_hz == {"/a": 500.0}
    assert options.sink.min_free_bytes == 1 << 30  # the 1 GiB default
    for bad, message in (
        ({"topics": ["/a"]}, "output is required.*-o BAG.*-p output:=BAG"),   # CLI and node
        ({"output": "x"}, "nothing to record.*--all.*-p all:=true"),
        ({"output": "x", "all": True, "duration": -1}, "must not be negative"),
        ({"output": "x", "all": True, "storage": "bagz"}, "storage must be one of"),
        ({"output": "x", "all": True, "colour": 1}, "unknown recorder parameter"),
    ):
        with pytest.raises(ConfigError, match=message):
            record_options(bad)
    with pytest.raises(ConfigError, match="TOPIC=HZ"):
        parse_expect(["/a=fast"])
    assert len({p.name for p in RECORD_PARAMS}) == len(RECORD_PARAMS)


def test_live_recording_picks_up_a_late_topic_and_stops_after_duration(monkeypatch, tmp_path):
    private_domain(monkeypatch)
    options = RecordOptions(
        selector=TopicSelector(all_topics=True), duration_s=5.0, sink=SinkOptions(min_free_bytes=0)
    )
    statuses: list[RecorderStatus] = []
    with open_transport("dds") as rec_transport, open_transport("dds") as pub_transport:
        recorder = Recorder(rec_transport, tmp_path / "bag", options, on_status=statuses.append)
        pub_transport.subscribe(m.STATUS_TOPIC, m.STRING, qos.STATUS)
        result: dict[str, RecorderStatus] = {}
        thread = threading.Thread(
            target=lambda: result.update(final=recorder.run(threading.Event()))
        )
        thread.start()
        time.sleep(0.8)  # the topic appears after the recorder started
        pub = pub_transport.publisher(JOINTS, m.JOINT_STATE, qos.SENSOR_WRITER)
        assert wait_until(lambda: pub.subscriber_count() == 1, 4.0)
        for i in range(300):
            pub.publish(joint_cdr(i))
            time.sleep(0.002)
        thread.join(10)
        published = [
            RecorderStatus.from_json(m.deserialize(data, m.STRING).data)
            for batch in pub_transport.take(0.1)
            for data, _ in batch.samples
        ]
    final = result["final"]
    assert final.stop_reason == "duration of 5 s reached"
    assert (
        len(published) >= 2 and published[-1].topics[JOINTS].count > 0
    )  # /robot_logger/status
    assert final.written[JOINTS] == 300
    assert count_messages(tmp_path / "bag")[JOINTS] == 300
    assert statuses and all(s.transport == "dds" for s in statuses)
    assert final.absent == {}
    assert final.topics[JOINTS].count == 300 and final.topics[JOINTS].drops == 0


def test_cell_yaml_parameters_are_the_cli_flags_one_to_one():
    """config/cell.yaml's node parameters <-> `record` / `sim --publish` flags; they validate."""
    from robot_logger.cli.record import record as record_command
    from robot_logger.cli.sim import sim as sim_command
    from robot_logger.sim.params import SIM_PARAMS

    doc = yaml.safe_load((CONFIG / "cell.yaml").read_text())
    recorder = doc["recorder"]["ros__parameters"]
    assert set(recorder) == {p.name for p in RECORD_PARAMS} - {"transport"}
    record_flags = {o for p in record_command.params for o in p.opts if o.startswith("--")}
    assert {p.flag for p in RECORD_PARAMS} <= record_flags
    _, _, options = record_options(recorder)
    assert options.selector.all_topics and options.expected_hz["/cell/cam1/image_raw"] == 30.0
    sim = doc["sim_cell"]["ros__parameters"]
    assert set(sim) == {p.name for p in SIM_PARAMS}
    sim_flags = {o for p in sim_command.params for o in p.opts if o.startswith("--")}
    assert {p.flag for p in SIM_PARAMS} <= sim_flags


def test_status_table_shows_topics_queue_and_warnings():
    from robot_logger.cli.record import format_status

    monitor = SyncMonitor({JOINTS: 500.0}, start_ns=RECV_NS)
    monitor.feed(JOINTS, [STAMP_NS], RECV_NS + 10**9, 280)
    unmatched = {"/cell/cam1/image_raw": "QoS mismatch: x"}
    mon = monitor.status(RECV_NS + 10**9, TopicProblems(unmatched=unmatched))
    status = RecorderStatus(
        *mon,
        queue_messages=2,
        queue_bytes=0,
        bytes_written=280,
        disk_free_bytes=5 * 10**9,
        written={JOINTS: 1},
        dropped_queue={JOINTS: 3},
        unmatched=unmatched,
        skipped={},
        absent={},
        bags=(),
        transport="dds",
        domain_id=0,
    )
    text = format_status(status)
    row = next(line for line in text.splitlines() if line.startswith(JOINTS)).split()
    assert row[1:3] == ["1", "1.0"] and row[3] == "500" and row[5] == "3"
    assert "queue 2 msgs" in text and "disk free 5.0 GB" in text
    assert "warning: /cell/cam1/image_raw: never matched: QoS mismatch: x" in text


@pytest.mark.parametrize(("selector", "expected"), [
    (TopicSelector(("/cell/arm9/joint_states",)), {}),
    (TopicSelector(all_topics=True, exclude="arm7"),
     {"/cell/arm9/joint_states": 500.0, "/cell/arm7/joint_states": 500.0}),
], ids=["named", "expected"])
def test_a_named_topic_nobody_publishes_is_reported_with_the_topics_that_exist(
    monkeypatch, tmp_path, selector, expected
):
    """A topic named or given an expected rate (config/cell.yaml's `expect` with `all: true`:
    an unplugged camera was never mentioned) and not published; one the selection excludes is
    not the recorder's business."""
    private_domain(monkeypatch)
    options = RecordOptions(
        selector=selector,
        expected_hz=expected,
        duration_s=1.5,
        absent_after_s=0.5,
        sink=SinkOptions(min_free_bytes=0),
    )
    with open_transport("dds") as rec_transport, open_transport("dds") as pub_transport:
        pub_transport.publisher(JOINTS, m.JOINT_STATE, qos.SENSOR_WRITER)
        final = Recorder(rec_transport, tmp_path / "bag", options).run(threading.Event())
    reason = final.absent["/cell/arm9/joint_states"]
    assert reason.startswith("no publisher on ROS_DOMAIN_ID=") and JOINTS in reason
    assert any(w.startswith("/cell/arm9/joint_states: not published") for w in final.warnings)
    assert not any("arm7" in w for w in final.warnings)


def test_a_first_bag_that_cannot_be_created_is_an_error_before_recording(tmp_path):
    """A bad output path (here a dangling symlink: it does not `exist`, but mkdir fails) used to
    kill the writer thread silently; then it stopped the sink once recording had begun. Now the
    sink makes the folder once up front: the error comes before anything is received. (A split
    that cannot be created, below, still stops a running sink.)"""
    bad = tmp_path / "bag"
    bad.symlink_to(tmp_path / "nowhere" / "bag")
    with pytest.raises(BagError, match=f"cannot create bag {bad}"):
        sink(bad)


def test_a_split_that_cannot_be_created_stops_the_sink_and_counts_every_message(
        tmp_path):
    writer = sink(tmp_path / "run", split_size_bytes=2_000)
    assert wait_until(lambda: (tmp_path / "run" / "run_0").is_dir(), 1.0)
    (tmp_path / "run" / "run_1").symlink_to(tmp_path / "nowhere" / "x")
    put_joints(writer, 0, 200)
    assert wait_until(lambda: writer.stopped, 1.0), "no stop within a second"
    assert "cannot create bag" in writer.stop_reason and "run_1" in writer.stop_reason
    stats = writer.close()
    assert stats.written[JOINTS] == count_messages(tmp_path / "run")[JOINTS]   # run_0.mcap
    assert stats.written[JOINTS] + stats.dropped[JOINTS] == 200
    assert stats.queue_messages == 0


def test_record_cli_exits_2_within_a_second_when_the_bag_cannot_be_created(monkeypatch,
                                                                           tmp_path):
    private_domain(monkeypatch)
    bad = tmp_path / "bag"
    bad.symlink_to(tmp_path / "nowhere" / "bag")
    started = time.monotonic()
    result = CliRunner().invoke(main, ["record", "-o", str(bad), "--all", "--transport", "dds",
                                       "--duration", "10", "--quiet"])
    took = time.monotonic() - started
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: cannot create bag {bad}")
    assert result.output.count("\n") == 1 and took < 3.0   # transport start-up + < 1 s


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_record_cli_says_only_the_error_when_the_folder_cannot_hold_a_bag(monkeypatch):
    """/proc passes 'the parent is a directory' (and, for root, every permission check), yet no
    folder can be made in it: the recorder started, printed its status table and a 'recorded 0
    messages' line, then the error. Creating the bag folder is now tried before recording."""
    private_domain(monkeypatch)
    bad = Path("/proc/robot_logger_test_bag")
    result = CliRunner().invoke(main, ["record", "-o", str(bad), "--all", "--transport", "dds",
                                       "--duration", "10"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: cannot create bag {bad}")
    assert result.output.count("\n") == 1, result.output


def test_a_read_only_output_folder_is_an_error_with_the_reason(tmp_path):
    """A real read-only filesystem (root can write anywhere else): EROFS from the kernel."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    where = tmp_path / "ro"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        with pytest.raises(BagError, match="cannot create bag .*Read-only file system"):
            sink(where / "bag")
    finally:
        subprocess.run(["umount", str(where)], check=False)


def test_status_says_when_the_kernel_caps_the_dds_receive_buffer(monkeypatch, tmp_path):
    from robot_logger.transport.dds import RECEIVE_BUFFER_BYTES, receive_buffer_warning

    private_domain(monkeypatch)
    with open_transport("dds") as transport:
        final = Recorder(transport, tmp_path / "bag", RecordOptions(duration_s=0.3)).run(
            threading.Event())
    capped = int(open("/proc/sys/net/core/rmem_max").read()) < RECEIVE_BUFFER_BYTES
    cap_warnings = [w for w in final.warnings if "net.core.rmem_max" in w]
    assert cap_warnings == ([receive_buffer_warning(RECEIVE_BUFFER_BYTES)] if capped else [])
    if capped:
        assert "sudo sysctl -w net.core.rmem_max=10485760" in cap_warnings[0]


def test_a_bug_in_the_writer_thread_stops_the_sink_loudly(tmp_path):
    """Any exception in the writer thread (here: a topic put without add_topic) stops the sink
    with its reason and counts the message, instead of a thread dying unseen."""
    writer = sink(tmp_path / "bag")
    writer.put("/never/declared", RECV_NS, [(joint_cdr(0), 0)])
    assert wait_until(lambda: writer.stopped, 1.0), "no stop within a second"
    assert "the bag writer failed (KeyError" in writer.stop_reason
    stats = writer.close()
    assert stats.dropped["/never/declared"] == 1


RELIABLE_ALL = qos.QosProfile("reliable", "volatile", "keep_all", 1)


class _LiveRecording(NamedTuple):
    rec_transport: Transport
    pub: RawPublisher
    stop: threading.Event
    thread: threading.Thread
    result: dict[str, RecorderStatus]


@contextlib.contextmanager
def _running(recorder: Recorder) -> Iterator[tuple[threading.Event, threading.Thread,
                                                  dict[str, RecorderStatus]]]:
    """`recorder.run` in a thread until the block ends; `result["final"]` is its final status."""
    stop = threading.Event()
    result: dict[str, RecorderStatus] = {}
    thread = threading.Thread(target=lambda: result.update(final=recorder.run(stop)))
    thread.start()
    try:
        yield stop, thread, result
    finally:
        stop.set()
        thread.join(10)


@contextlib.contextmanager
def _recording_joints(monkeypatch: pytest.MonkeyPatch, bag: Path) -> Iterator[_LiveRecording]:
    """A recorder of JOINTS (reliable keep-all) running in a thread on a private domain, and a
    matched publisher on a transport of its own; `result["final"]` is set when the run ends."""
    private_domain(monkeypatch)
    options = RecordOptions(selector=TopicSelector((JOINTS,)), sink=SinkOptions(min_free_bytes=0),
                            qos_overrides={JOINTS: RELIABLE_ALL})
    with open_transport("dds") as rec_transport, open_transport("dds") as pub_transport:
        pub = pub_transport.publisher(JOINTS, m.JOINT_STATE, RELIABLE_ALL)
        with _running(Recorder(rec_transport, bag, options)) as (stop, thread, result):
            assert wait_until(lambda: pub.subscriber_count() == 1, 4.0)
            yield _LiveRecording(rec_transport, pub, stop, thread, result)


def test_a_stop_right_after_the_data_arrived_still_writes_all_of_it(monkeypatch, tmp_path):
    """Stop (as SIGINT does) the moment the publisher's reliable keep-all writer has every
    message acknowledged, with no settling wait: everything already in the recorder's reader
    cache is taken and written before the bag closes. Before the final drain the loop left at
    the next `stop` check and the samples delivered after its last take were lost."""
    sent = 3000
    frames = [joint_cdr(i) for i in range(sent)]
    with _recording_joints(monkeypatch, tmp_path / "bag") as live:
        for frame in frames:
            live.pub.publish(frame)
        assert live.pub.wait_for_acks(5.0)
        live.stop.set()
        live.thread.join(10)
    final = live.result["final"]
    assert final.stop_reason == "stopped"
    assert final.written[JOINTS] == sent
    assert count_messages(tmp_path / "bag")[JOINTS] == sent


def test_a_publisher_that_keeps_flooding_cannot_hold_up_the_stop_and_nothing_goes_unseen(
        monkeypatch, tmp_path):
    """The final drain is bounded: a reliable publisher still sending flat out when stop is set
    (here from a thread of this process, so the recorder gets a third of the GIL and falls far
    behind) delays the stop by at most 2 x 0.5 s (drain, then count what is left) plus closing
    the bag, and every message it sent is accounted for: written, counted as arriving after the
    drain ran out (`dropped_at_stop`, with a warning), or still in the reader after the recorder
    stopped taking (taken here). Before the per-call cap on a DDS take, one take under this
    flood did not return for seconds."""
    from robot_logger.record.recorder import DRAIN_LIMIT_S

    frame = joint_cdr(0)
    flooding = threading.Event()
    sent = [0]

    def flood(pub: RawPublisher) -> None:
        while not flooding.is_set():
            pub.publish(frame)
            sent[0] += 1

    with _recording_joints(monkeypatch, tmp_path / "bag") as live:
        flooder = threading.Thread(target=flood, args=(live.pub,))
        flooder.start()
        assert wait_until(lambda: sent[0] >= 2000, 4.0)
        live.stop.set()
        stopping = time.monotonic()
        live.thread.join(10)
        took = time.monotonic() - stopping
        flooding.set()
        flooder.join(10)
        assert live.pub.wait_for_acks(5.0)
        after = 0
        while batches := live.rec_transport.take(0.05):
            after += sum(len(b.samples) for b in batches)
    final = live.result["final"]
    assert took < 2 * DRAIN_LIMIT_S + 1.0, took
    assert final.written[JOINTS] == count_messages(tmp_path / "bag")[JOINTS] > 0
    assert final.dropped_queue[JOINTS] == 0
    assert final.written[JOINTS] + final.dropped_at_stop[JOINTS] + after == sent[0]
    left = [w for w in final.warnings if "stop drain ended" in w]
    assert len(left) == (final.dropped_at_stop[JOINTS] > 0)



def test_a_full_writer_queue_is_a_warning_naming_the_topic(monkeypatch, tmp_path):
    """In every status from then on: it was only a column of the terminal table, so the
    one-line status (not a TTY) and the recorder node's log never said messages were lost."""
    private_domain(monkeypatch)
    options = RecordOptions(sink=SinkOptions(min_free_bytes=0, queue_limit_bytes=1000))
    with open_transport("dds") as transport:
        recorder = Recorder(transport, tmp_path / "bag", options)
        recorder.sink.add_topic(JOINTS, m.JOINT_STATE)
        assert recorder.sink.put(JOINTS, RECV_NS, [(joint_cdr(i), 0) for i in range(50)]) == 50
        status = recorder.status()
        recorder.sink.close()
    assert status.dropped_queue[JOINTS] == 50
    assert f"{JOINTS}: 50 messages dropped, not written: the writer queue was full " \
           "(--queue-size) or the writer had stopped" in status.warnings


def test_latched_and_log_topics_are_not_warned_about_as_streams(monkeypatch, tmp_path):
    """/tf_static (sent once) was `stale` for the whole recording; /rosout and
    /parameter_events, which every rclpy node offers, were `silent`."""
    private_domain(monkeypatch)
    with open_transport("dds") as transport:
        recorder = Recorder(transport, tmp_path / "bag", RecordOptions())
        recorder.sink.close()
    monitor, start = recorder.monitor, time.time_ns()
    monitor.add_topic("/rosout")
    monitor.add_topic("/parameter_events")
    monitor.feed("/tf_static", [start], start, 100)
    assert monitor.status(start + 10 * 10**9).warnings == ()


def test_a_topic_with_two_publishers_is_not_reported_dropping(monkeypatch, tmp_path):
    """Two drivers publish one topic at 100 Hz each, 1 ms apart: every message arrives, but the
    merged stamps step 1, 9, 1, 9 ms, so gaps read as losses (the median interval is 5 ms).
    The recorder tells the monitor the topic's publisher count from discovery: no drop is
    inferred and no `dropping` warning is given."""
    private_domain(monkeypatch)
    options = RecordOptions(selector=TopicSelector((JOINTS,)), sink=SinkOptions(min_free_bytes=0),
                            qos_overrides={JOINTS: RELIABLE_ALL})
    sent = 200
    with (open_transport("dds") as rec_transport, open_transport("dds") as a_transport,
          open_transport("dds") as b_transport):
        pubs = [t.publisher(JOINTS, m.JOINT_STATE, RELIABLE_ALL)
                for t in (a_transport, b_transport)]
        assert wait_until(lambda: len(rec_transport.offered_qos(JOINTS)) == 2, 4.0)
        with _running(Recorder(rec_transport, tmp_path / "bag", options)) as (_, _, result):
            assert wait_until(lambda: all(p.subscriber_count() == 1 for p in pubs), 4.0)
            for i in range(sent):
                for offset_ns, pub in zip((0, 1_000_000), pubs):
                    pub.publish(m.serialize(m.joint_state(
                        STAMP_NS + i * 10_000_000 + offset_ns, ["j"], np.array([float(i)]),
                        np.zeros(1), np.zeros(1)), m.JOINT_STATE))
            assert all(p.wait_for_acks(5.0) for p in pubs)
    final = result["final"]
    assert final.written[JOINTS] == 2 * sent
    assert final.topics[JOINTS].drops == 0
    assert not any("dropping" in w for w in final.warnings), final.warnings


def test_publishers_of_two_types_on_one_topic_are_reported_not_dropped_silently(monkeypatch,
                                                                               tmp_path):
    """One topic, two message types: a topic not yet recorded is skipped with the reason, as
    rosbag2 does (the rclpy transport dropped it from discovery without a word; the dds one
    subscribed to whichever type it saw last); a recorded topic that gains a publisher of
    another type says those messages are not recorded."""
    private_domain(monkeypatch)
    options = RecordOptions(selector=TopicSelector((JOINTS, "/t/mixed")),
                            sink=SinkOptions(min_free_bytes=0))
    with (open_transport("dds") as rec_transport, open_transport("dds") as a_transport,
          open_transport("dds") as b_transport):
        a_transport.publisher("/t/mixed", m.STRING, qos.SENSOR_WRITER)
        b_transport.publisher("/t/mixed", m.JOINT_STATE, qos.SENSOR_WRITER)
        joints = a_transport.publisher(JOINTS, m.JOINT_STATE, qos.SENSOR_WRITER)
        assert wait_until(lambda: rec_transport.discover().get("/t/mixed", ()) == (
            m.JOINT_STATE, m.STRING), 4.0)
        recorder = Recorder(rec_transport, tmp_path / "bag", options)
        with _running(recorder) as (_, _, result):
            assert wait_until(lambda: joints.subscriber_count() == 1, 4.0)
            b_transport.publisher(JOINTS, m.STRING, qos.SENSOR_WRITER)
            assert wait_until(lambda: JOINTS in recorder.status().unmatched, 4.0)
    final = result["final"]
    assert "/t/mixed" in final.skipped and "2 message types" in final.skipped["/t/mixed"]
    assert m.STRING in final.unmatched[JOINTS] and "not recorded" in final.unmatched[JOINTS]
    assert any(w.startswith("/t/mixed: ") for w in final.warnings), final.warnings
