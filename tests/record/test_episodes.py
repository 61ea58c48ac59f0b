"""Episode control: events reach the recorder reliably and end up in the bag.

Nobody listening is an error.
"""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner

from robot_logger.bag.reader import open_bag
from robot_logger.cli import main
from robot_logger.core import events
from robot_logger.core import messages as m
from robot_logger.errors import TransportError
from robot_logger.record.bagsink import SinkOptions
from robot_logger.record.episodes import send_event
from robot_logger.record.recorder import Recorder, RecordOptions, TopicSelector
from robot_logger.transport import open_transport, qos
from tests.support.dds_env import private_domain, wait_until


def test_event_is_delivered_and_acknowledged(monkeypatch):
    private_domain(monkeypatch)
    with open_transport("dds") as listener, open_transport("dds") as control:
        listener.subscribe(m.EVENTS_TOPIC, m.STRING, qos.EVENTS)
        payload = events.episode_start("weld seam A3")
        assert send_event(control, payload, timeout_s=3.0) == 1
        got = []
        assert wait_until(lambda: got.extend(b for b in listener.take(0.05)) or got, 2.0, step_s=0)
    ((data, _send),) = got[0].samples
    assert events.decode(m.deserialize(data, m.STRING).data) == events.Event(
        "episode_start", task="weld seam A3"
    )


def test_no_recorder_listening_is_an_error_naming_the_domain(monkeypatch):
    private_domain(monkeypatch)
    with open_transport("dds") as control:
        with pytest.raises(
            TransportError,
            match=r"no recorder is listening on /robot_logger/events "
            rf"\(ROS_DOMAIN_ID={control.domain_id}",
        ):
            send_event(control, events.phase("grasp"), timeout_s=0.3)


def test_episode_cli_events_are_recorded_in_order(monkeypatch, tmp_path):
    private_domain(monkeypatch)
    options = RecordOptions(
        selector=TopicSelector(("/unused",)), duration_s=6.0, sink=SinkOptions(min_free_bytes=0)
    )
    stop = threading.Event()
    with open_transport("dds") as transport:
        recorder = Recorder(transport, tmp_path / "bag", options)
        thread = threading.Thread(target=recorder.run, args=(stop,))
        thread.start()
        runner = CliRunner()
        commands = [
            ["episode", "start", "--task", "pick part D9"],
            ["episode", "phase", "approach"],
            ["episode", "phase", "grasp"],
            ["episode", "end", "--outcome", "failure"],
        ]
        outputs = [runner.invoke(main, args + ["--timeout", "3"]) for args in commands]
        stop.set()
        thread.join(10)
    assert [r.exit_code for r in outputs] == [0, 0, 0, 0], [r.output for r in outputs]
    assert "sent" in outputs[0].output and "1 reader(s)" in outputs[0].output
    with open_bag(tmp_path / "bag") as bag:
        recorded = [
            events.decode(m.deserialize(raw, m.STRING).data)
            for _, _, _, raw in bag.messages([m.EVENTS_TOPIC])
        ]
    assert recorded == [
        events.Event("episode_start", task="pick part D9"),
        events.Event("phase", name="approach"),
        events.Event("phase", name="grasp"),
        events.Event("episode_end", outcome="failure"),
    ]


def test_episode_cli_without_recorder_exits_2_with_one_line(monkeypatch):
    private_domain(monkeypatch)
    result = CliRunner().invoke(main, ["episode", "phase", "grasp", "--timeout", "0.3"])
    assert result.exit_code == 2
    assert (
        result.output.startswith("error: no recorder is listening")
        and result.output.count("\n") == 1
    )
