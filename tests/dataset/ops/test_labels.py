"""Episodes from events and labels files, per-frame phase labels, rewards and dones."""

import numpy as np
import pytest

from robot_logger.core import events as events_json
from robot_logger.core.events import (
    Episode,
    Event,
    EventTally,
    Phase,
    decode,
    episodes_from_events,
)
from robot_logger.core.messages import EVENTS_TOPIC, deserialize
from robot_logger.dataset.build.labels_file import load_labels_file
from robot_logger.dataset.ops.labels import phase_labels, rewards_dones
from robot_logger.errors import ConfigError, DatasetError
from robot_logger.sim import Cell, CellSpec, parse_faults

S = 1_000_000_000
BAG_START = 1_700_000_000 * S
BAG_END = BAG_START + 100 * S


def start(task):
    return Event("episode_start", task=task)


def phase(name):
    return Event("phase", name=name)


def end(outcome):
    return Event("episode_end", outcome=outcome)


def at(seconds):
    return BAG_START + int(seconds * S)


def test_events_make_episodes_with_phases():
    events = [
        (at(1), start("weld A3")),
        (at(2), phase("approach")),
        (at(5), phase("weld")),
        (at(9), end("success")),
        (at(10), start("weld B1")),
        (at(12), end("failure")),
    ]
    assert episodes_from_events(events, BAG_START, BAG_END) == [
        Episode(
            at(1),
            at(9),
            "weld A3",
            "success",
            (Phase("approach", at(2), at(5)), Phase("weld", at(5), at(9))),
        ),
        Episode(at(10), at(12), "weld B1", "failure", ()),
    ]


def test_start_without_end_ends_at_next_start_or_bag_end():
    events = [(at(1), start("a")), (at(3), phase("p")), (at(4), start("b")), (at(6), phase("q"))]
    assert episodes_from_events(events, BAG_START, BAG_END) == [
        Episode(at(1), at(4) - 1, "a", "unknown", (Phase("p", at(3), at(4) - 1),)),
        Episode(at(4), BAG_END, "b", "unknown", (Phase("q", at(6), BAG_END),)),
    ]


def test_events_outside_episodes_are_ignored():
    events = [
        (at(1), phase("early")),
        (at(2), end("success")),
        (at(3), start("t")),
        (at(4), end("aborted")),
        (at(5), phase("late")),
        (at(6), end("failure")),
    ]
    assert episodes_from_events(events, BAG_START, BAG_END) == [
        Episode(at(3), at(4), "t", "aborted", ())
    ]


def test_events_are_taken_in_time_order():
    events = [
        (at(9), end("success")),
        (at(1), start("t")),
        (at(5), phase("b")),
        (at(2), phase("a")),
    ]
    (episode,) = episodes_from_events(events, BAG_START, BAG_END)
    assert episode.phases == (Phase("a", at(2), at(5)), Phase("b", at(5), at(9)))


@pytest.mark.parametrize("events", [[], [(at(1), phase("orphan")), (at(2), end("success"))]])
def test_no_episode_events_give_the_whole_bag(events):
    assert episodes_from_events(events, BAG_START, BAG_END) == [
        Episode(BAG_START, BAG_END, "", "unknown", ())
    ]


def write(tmp_path, text):
    path = tmp_path / "labels.yaml"
    path.write_text(text)
    return path


def test_labels_file_relative_seconds_and_absolute_ns(tmp_path):
    path = write(
        tmp_path,
        f"""
episodes:
  - start: 1.5
    end: 10
    task: weld seam A3
    outcome: success
    phases:
      - {{name: approach, start: 1.5, end: 4}}
      - {{name: weld, start: 4.25, end: 10.0}}
  - start: {at(20)}
    end: {at(30)}
""",
    )
    assert load_labels_file(path, BAG_START) == [
        Episode(
            at(1.5),
            at(10),
            "weld seam A3",
            "success",
            (Phase("approach", at(1.5), at(4)), Phase("weld", at(4.25), at(10))),
        ),
        Episode(at(20), at(30), "", "unknown", ()),
    ]


def test_labels_file_may_be_a_bare_list(tmp_path):
    path = write(tmp_path, "- {start: 0, end: 2, outcome: aborted}\n")
    assert load_labels_file(path, BAG_START) == [Episode(at(0), at(2), "", "aborted", ())]


@pytest.mark.parametrize(
    "episode, message",
    [
        ("{end: 5}", r"episodes\[0\]\.start: required key is missing"),
        ("{start: 1, end: 5, stat: 2}", r"episodes\[0\]\.stat: unknown key \(allowed: start, end"),
        ("{start: 1, end: 5, task: 7}", r"episodes\[0\]\.task: must be a string, not 7"),
        ("{start: one, end: 5}", r"episodes\[0\]\.start: must be seconds from bag start"),
        ("{start: true, end: 5}", r"episodes\[0\]\.start: must be seconds"),
        ("{start: -1, end: 5}", r"episodes\[0\]\.start: -1 is not a time"),
        ("{start: .nan, end: 5}", r"episodes\[0\]\.start: nan is not a time"),
        ("{start: 1.7e+18, end: 5}", r"episodes\[0\]\.start: .* absolute ns as an integer"),
        ("{start: 5, end: 1}", r"episodes\[0\]\.end: must be ≥ start"),
        ("{start: 1, end: 5, outcome: great}", r"episodes\[0\]\.outcome: must be one of success"),
        ("{start: 1, end: 5, phases: {name: a}}", r"episodes\[0\]\.phases: must be a list"),
        (
            "{start: 1, end: 5, phases: [{name: a, start: 2}]}",
            r"episodes\[0\]\.phases\[0\]\.end: required key is missing",
        ),
        (
            "{start: 1, end: 5, phases: [{name: a, start: 3, end: 2}]}",
            r"episodes\[0\]\.phases\[0\]\.end: must be ≥ start",
        ),
        (
            "{start: 1, end: 5, phases: [{name: '', start: 2, end: 3}]}",
            r"episodes\[0\]\.phases\[0\]\.name: must not be empty",
        ),
        (
            "{start: 1, end: 5, phases: [{name: a, start: 0.5, end: 3}]}",
            r"episodes\[0\]\.phases\[0\]: lies outside its episode",
        ),
        (
            "{start: 1, end: 5, phases: [{name: a, start: 2, end: 6}]}",
            r"episodes\[0\]\.phases\[0\]: lies outside its episode",
        ),
        (
            "{start: 1, end: 5, phases: [{name: a, start: 2, end: 4},"
            " {name: b, start: 3, end: 5}]}",
            r"episodes\[0\]\.phases\[1\]\.start: overlaps phases\[0\]",
        ),
        ("[1, 5]", r"episodes\[0\]: must be a mapping"),
    ],
)
def test_labels_file_errors_name_file_and_key(tmp_path, episode, message):
    path = write(tmp_path, f"episodes:\n  - {episode}\n")
    with pytest.raises(ConfigError, match=f"^{tmp_path}/labels.yaml: {message}"):
        load_labels_file(path, BAG_START)


def test_labels_file_error_in_a_later_episode(tmp_path):
    path = write(
        tmp_path,
        """episodes:
  - {start: 0, end: 1}
  - {start: 2, end: 3}
  - start: 4
    end: 9
    phases: [{name: a, start: 4, end: 5}, {name: b, start: 6, end: 5}]
""",
    )
    with pytest.raises(ConfigError, match=r"labels.yaml: episodes\[2\]\.phases\[1\]\.end: must"):
        load_labels_file(path, BAG_START)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "episodes:\n  - {start: 0, end: 3}\n  - {start: 2, end: 4}\n",
            r"episodes\[1\]\.start: overlaps episodes\[0\]",
        ),
        ("episodes: []\n", "episodes: must be a non-empty list"),
        ("", "episodes: must be a non-empty list"),
        ("episode: []\n", "episode: unknown key"),
        ("{}\n", "episodes: required key is missing"),
        ("just text\n", "episodes: must be a non-empty list"),
    ],
)
def test_labels_file_document_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=f"labels.yaml: {message}"):
        load_labels_file(write(tmp_path, text), BAG_START)


def test_bad_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "episodes:\n  - {start: 0, end: 1}\n  - {start: [0, end: 1}\n")
    with pytest.raises(
        ConfigError, match=r"labels.yaml: invalid YAML at line 3, column \d+ \(labels file\)"
    ):
        load_labels_file(path, BAG_START)


def test_missing_labels_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: cannot read labels file"):
        load_labels_file(tmp_path / "nope.yaml", BAG_START)


EPISODE = Episode(
    at(0),
    at(10),
    "t",
    "success",
    (
        Phase("approach", at(1), at(3)),
        Phase("weld", at(4), at(6)),
        Phase("retract", at(6), at(10)),
    ),
)


def test_phase_labels_half_open_with_gaps_and_episode_end():
    ref = np.array([at(s) for s in (0, 1, 2.9, 3, 3.5, 4, 5.999, 6, 9, 10)])
    names = ["weld", "approach", "retract", "idle"]
    labels = phase_labels(ref, EPISODE, names)
    assert labels.dtype == np.int16
    assert labels.tolist() == [-1, 1, 1, -1, -1, 0, 0, 2, 2, 2]


def test_zero_length_phase_never_labels_a_frame():
    phases = (Phase("a", at(0), at(2)), Phase("b", at(2), at(2)), Phase("c", at(2), at(4)))
    episode = Episode(at(0), at(4), "t", "unknown", phases)
    labels = phase_labels(np.array([at(1), at(2), at(3)]), episode, ["a", "b", "c"])
    assert labels.tolist() == [0, 2, 2]


def test_phase_labels_without_phases_and_unknown_names():
    ref = np.array([at(1), at(2)])
    assert phase_labels(ref, Episode(at(0), at(3), "", "unknown"), []).tolist() == [-1, -1]
    with pytest.raises(DatasetError, match="phase 'retract' is not among"):
        phase_labels(ref, EPISODE, ["approach", "weld"])


@pytest.mark.parametrize(
    "outcome, last_reward",
    [("success", 1.0), ("failure", 0.0), ("aborted", 0.0), ("unknown", 0.0)],
)
def test_rewards_dones(outcome, last_reward):
    rewards, dones = rewards_dones(5, outcome)
    assert rewards.dtype == np.float32 and dones.dtype == np.uint8
    assert rewards.tolist() == [0, 0, 0, 0, last_reward]
    assert dones.tolist() == [0, 0, 0, 0, 1]


def test_rewards_dones_edge_cases():
    rewards, dones = rewards_dones(0, "success")
    assert rewards.shape == dones.shape == (0,)
    assert rewards_dones(1, "success")[0].tolist() == [1.0]
    with pytest.raises(DatasetError, match="outcome must be one of"):
        rewards_dones(3, "great")


def test_repeated_events_count_once():
    events = [
        (at(1), start("t")),
        (at(1.001), start("t")),
        (at(2), phase("a")),
        (at(2.001), phase("a")),
        (at(3), end("success")),
        (at(3.001), end("success")),
    ]
    assert episodes_from_events(events, BAG_START, BAG_END) == [
        Episode(at(1), at(3), "t", "success", (Phase("a", at(2), at(3)),))
    ]


@pytest.mark.parametrize("faults", ["", "/robot_logger/events:dup=0.5"])
def test_simulated_cell_events_match_its_plan(faults):
    cell = Cell(
        CellSpec(arms=1, cameras=0, lidar=False, duration_s=6, episodes=3, joint_rate_hz=20),
        parse_faults(faults),
    )
    events = [
        (m.log_ns, decode(deserialize(m.data, m.msgtype).data))
        for m in cell.messages()
        if m.topic == EVENTS_TOPIC
    ]
    episodes = episodes_from_events(
        events, cell.spec.start_ns, cell.spec.start_ns + cell.spec.duration_ns
    )
    truth = cell.episodes()
    assert [(e.task, e.outcome) for e in episodes] == [(t.task, t.outcome) for t in truth]
    tolerance_ns = 5_000_000  # events carry log time: delivery latency, not the planned instant
    for episode, plan in zip(episodes, truth):
        assert [p.name for p in episode.phases] == [name for name, _, _ in plan.phases]
        got = [
            episode.start_ns,
            episode.end_ns,
            *(t for p in episode.phases for t in (p.start_ns, p.end_ns)),
        ]
        want = [plan.start_ns, plan.end_ns, *(t for _, s, e in plan.phases for t in (s, e))]
        np.testing.assert_allclose(got, want, rtol=0, atol=tolerance_ns)


def test_an_unclosed_episode_and_the_next_share_no_frame():
    """Episodes are closed intervals: an episode left open ends 1 ns before the next starts, so
    the frame at the new start belongs to the new episode only (it was in both)."""
    from robot_logger.dataset.ops.align import reference_times

    events = [(at(1), start("a")), (at(4), start("b")), (at(6), end("success"))]
    first, second = episodes_from_events(events, BAG_START, BAG_END)
    frames_a = set(reference_times(first.start_ns, first.end_ns, 10).tolist())
    frames_b = set(reference_times(second.start_ns, second.end_ns, 10).tolist())
    assert frames_a.isdisjoint(frames_b)
    assert len(frames_a) == 30 and len(frames_b) == 21 and first.end_ns == at(4) - 1


def test_malformed_events_and_unknown_outcomes_are_counted():
    texts = [events_json.episode_start("t"), "{not json", '{"type": "episode_end", '
             '"outcome": "succeeded"}', '{"type": "phse", "name": "x"}', "[1, 2]",
             events_json.episode_end("success")]
    tally = EventTally()
    decoded = [tally.decode(text) for text in texts]
    assert [e.type if e else None for e in decoded] == [
        "episode_start", None, "episode_end", None, None, "episode_end"]
    assert decoded[2].outcome == "unknown"        # labelled unknown, but counted
    assert tally.malformed == 3 and tally.unknown_outcomes == {"succeeded": 1}
    warnings = tally.warnings("/robot_logger/events")
    assert len(warnings) == 2
    assert "3 malformed events" in warnings[0] and "'{not json'" in warnings[0]
    assert "'succeeded'" in warnings[1] and "success, failure, aborted, unknown" in warnings[1]
    assert EventTally().warnings("/e") == []
