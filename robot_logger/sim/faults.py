"""Fault injection for simulated bags: the `--faults` mini-language and its effect on a stream.

Syntax: items separated by `;`. An item is `TOPIC:key=value,key=value`, where TOPIC is a topic
name or a glob (`*` = every topic, `/cell/cam*/image_raw`); an item without `TOPIC:` also means
every topic. Later items override earlier ones key by key. Keys:

  drop=P           drop each message with probability P (0 <= P < 1)
  outage=A-B       no messages sampled A..B s after the start; several: `outage=1-2+5-5.5`
  offset_ms=X      header stamps run X ms ahead (negative: behind) of the true sample time
  clock_offset_ms=X  the publisher stamps on its own device clock, X ms ahead of the cell's
  drift_ppm=Y      clock at the start and gaining Y µs per s (ppm) from then on:
                   stamp = sample + X ms + Y·1e-6·(sample − cell start) (a USB camera, a PLC)
  jitter_ms=X      Gaussian noise (sigma X ms) on header stamps
  dup=P            deliver a message twice (same stamp and data) with probability P
  reorder=P        swap a message with the next one with probability P (header stamps go backwards)
  truncate=F       the bag writer is killed after fraction F (0 < F < 1) of the duration: no
                   metadata.yaml; mcap loses its unflushed chunk, the last chunk on disk is cut in
                   half and there is no summary; sqlite3 keeps what it committed, with no metadata
                   (a whole-bag key: it takes no TOPIC)

Example: `/cell/cam1/image_raw:drop=0.1;/cell/arm1/joint_states:outage=2-2.5,offset_ms=30;
truncate=0.8`. Every random choice comes from the cell's seed. offset/clock/jitter change nothing
in messages without a header (/robot_logger/events, the gripper's Float64).
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from robot_logger.errors import ConfigError

__all__ = ["TopicFaults", "Faults", "parse_faults", "apply_faults", "device_clock_ns"]

DUPLICATE_DELAY_NS = 50_000


@dataclass(frozen=True)
class TopicFaults:
    """The faults injected on one topic (all zero: a clean stream)."""

    drop: float = 0.0
    outage: tuple[tuple[float, float], ...] = ()
    offset_ms: float = 0.0
    clock_offset_ms: float = 0.0
    drift_ppm: float = 0.0
    jitter_ms: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0


@dataclass(frozen=True)
class Faults:
    """Parsed `--faults`: (topic glob, settings) rules in order, and the whole-bag truncation."""

    # (glob, ((TopicFaults field, value), ...)); values are floats or outage tuples, checked
    # against the field by parse_faults
    rules: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    truncate: float | None = None

    def for_topic(self, topic: str) -> TopicFaults:
        """The faults on `topic`: every matching rule applied in order."""
        merged = TopicFaults()
        for pattern, settings in self.rules:
            if fnmatch.fnmatchcase(topic, pattern):
                merged = replace(merged, **dict(settings))
        return merged

    def check_topics(self, topics: list[str]) -> None:
        """ConfigError when a rule names a topic the cell does not publish."""
        for pattern, _ in self.rules:
            if not any(fnmatch.fnmatchcase(t, pattern) for t in topics):
                raise ConfigError(f"--faults: {pattern!r} matches no topic of this cell"
                                  f" (topics: {', '.join(topics)})")


TOPIC_KEYS = {f.name for f in fields(TopicFaults)}
PROBABILITY_KEYS = ("drop", "dup", "reorder")


def parse_faults(text: str) -> Faults:
    """Parse the `--faults` syntax (see the module docstring); ConfigError names the bad part."""
    rules: list[tuple[str, tuple[tuple[str, Any], ...]]] = []
    truncate = None
    for item in filter(None, (part.strip() for part in (text or "").split(";"))):
        pattern, _, body = item.rpartition(":")
        pattern = pattern.strip() or "*"
        settings = []
        for pair in filter(None, (p.strip() for p in body.split(","))):
            key, sep, value = (s.strip() for s in pair.partition("="))
            if not sep or not value:
                raise ConfigError(f"--faults: {pair!r} in {item!r} is not key=value")
            if key == "truncate":
                if pattern != "*" or ":" in item:
                    raise ConfigError(f"--faults: truncate applies to the whole bag; write it as"
                                      f" its own item, not in {item!r}")
                truncate = _number(key, value, item, low=0.0, high=1.0, open_low=True,
                                   open_high=True)
            elif key in TOPIC_KEYS:
                settings.append((key, _value(key, value, item)))
            else:
                raise ConfigError(f"--faults: unknown key {key!r} in {item!r}"
                                  f" (keys: {', '.join(sorted(TOPIC_KEYS | {'truncate'}))})")
        if settings:
            rules.append((pattern, tuple(settings)))
    return Faults(tuple(rules), truncate)


def _value(key: str, value: str, item: str) -> object:
    if key in PROBABILITY_KEYS:
        return _number(key, value, item, low=0.0, high=1.0, open_high=True)
    if key == "outage":
        return tuple(_interval(part, item) for part in value.split("+"))
    if key == "jitter_ms":
        return _number(key, value, item, low=0.0)
    return _number(key, value, item)


def _interval(text: str, item: str) -> tuple[float, float]:
    start, sep, end = text.partition("-")
    if not sep:
        raise ConfigError(f"--faults: outage {text!r} in {item!r} is not START-END (seconds)")
    a = _number("outage", start, item, low=0.0)
    b = _number("outage", end, item, low=0.0)
    if b <= a:
        raise ConfigError(f"--faults: outage {text!r} in {item!r} ends before it starts")
    return a, b


def _number(key: str, text: str, item: str, *, low: float = -math.inf, high: float = math.inf,
            open_low: bool = False, open_high: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    ok = math.isfinite(value) and (low < value if open_low else low <= value) \
        and (value < high if open_high else value <= high)
    if not ok:
        bounds = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise ConfigError(f"--faults: {key}={text!r} in {item!r} must be a number in {bounds}")
    return value


def apply_faults(faults: TopicFaults, rng: np.random.Generator, start_ns: int,
                 sample_ns: np.ndarray,
                 log_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Faults on one batch of a stream: (source index, stamp_ns, log_ns) of the messages delivered.

    `sample_ns` is when each message's content was sampled and `log_ns` when the recorder would get
    it. The result says which sample each delivered message carries, its header stamp and its log
    time: drops and outages remove samples, offset/jitter move stamps, reorder swaps neighbours'
    content (log times stay), dup delivers a sample twice, the copy 50 µs later.
    """
    keep = rng.random(len(sample_ns)) >= faults.drop
    for a_s, b_s in faults.outage:
        since_start = sample_ns - start_ns
        keep &= ~((since_start >= int(a_s * 1e9)) & (since_start < int(b_s * 1e9)))
    source = np.flatnonzero(keep)
    log_ns = log_ns[source]
    if faults.reorder and len(source) > 1:
        swap = rng.random(len(source) - 1) < faults.reorder
        swap[1:] &= ~swap[:-1]
        first = np.flatnonzero(swap)
        source[first], source[first + 1] = source[first + 1], source[first]
    if faults.dup:
        copies = 1 + (rng.random(len(source)) < faults.dup)
        positions = np.repeat(np.arange(len(source)), copies)
        second = np.r_[False, positions[1:] == positions[:-1]]
        source = source[positions]
        log_ns = log_ns[positions] + np.where(second, DUPLICATE_DELAY_NS, 0)
    stamp_ns = sample_ns[source] + int(round(faults.offset_ms * 1e6))
    if faults.jitter_ms:
        noise_ns = rng.normal(0.0, faults.jitter_ms * 1e6, len(stamp_ns))
        stamp_ns += np.round(noise_ns).astype(np.int64)
    if faults.clock_offset_ms or faults.drift_ppm:
        stamp_ns += device_clock_ns(faults, start_ns, sample_ns[source])
    return source, stamp_ns, log_ns


def device_clock_ns(faults: TopicFaults, start_ns: int, sample_ns: np.ndarray) -> np.ndarray:
    """How far (ns) the topic's device clock reads ahead of the cell's clock at sample_ns:
    clock_offset_ms + drift_ppm·1e-6·(sample − start), rounded to the nearest ns."""
    since = np.asarray(sample_ns, np.int64) - start_ns
    ahead: np.ndarray = np.rint(faults.clock_offset_ms * 1e6 + faults.drift_ppm * 1e-6 * since)
    return ahead.astype(np.int64)
