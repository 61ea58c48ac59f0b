"""`robot-logger info` and `repair`: look inside a bag; mend one a killed recorder left behind."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click

from robot_logger.bag.info import BagInfo, TopicReport, inspect_bag
from robot_logger.bag.streamstats import MAX_GAPS_LISTED
from robot_logger.cli.common import echo_json, json_option, progress_bar, quiet_option
from robot_logger.errors import BagError

if TYPE_CHECKING:
    from robot_logger.bag.repair.recover import RepairReport

__all__ = ["COMMANDS", "info", "repair"]

strict_option = click.option(
    "--strict", is_flag=True,
    help="Treat warnings (undecodable types, count mismatches) as errors.")


@click.command()
@click.argument("bag", type=click.Path(path_type=Path))
@json_option
@quiet_option
@strict_option
def info(bag: Path, as_json: bool, quiet: bool, strict: bool) -> None:
    """Topics, types, counts, rates, gaps, header-vs-log latency and episodes of BAG.

    BAG is a rosbag2 folder (mcap or sqlite3) or a bare .mcap/.db3 file. Periods, gaps
    (periods longer than 3x the median) and disorder are measured on header stamps when a type
    has a header, else on log (receive) times.

    \b
    Example:
      robot-logger sim -o demo_bag --duration 5
      robot-logger info demo_bag
      robot-logger info demo_bag --json | python3 -m json.tool
    """
    with progress_bar(None, "reading", quiet=quiet, unit="msg") as bar:
        report = inspect_bag(bag, progress=bar.update)
    if strict and report.warnings:
        raise BagError(f"{bag}: {report.warnings[0]} (--strict)")
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(format_info(report))


def _ms(value_ns: int | None) -> str:
    if value_ns is None:
        return "-"
    return f"{value_ns / 1e6:.2f}" if abs(value_ns) >= 10_000 else f"{value_ns / 1e6:.2g}"


def _utc(stamp_ns: int) -> str:
    when = datetime.fromtimestamp(stamp_ns / 1e9, tz=timezone.utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _topic_row(t: TopicReport) -> list[str]:
    s = t.stats
    return [
        t.topic, t.msgtype if t.decodable else f"{t.msgtype} (undecodable)", str(s.count),
        "-" if s.rate_hz is None else f"{s.rate_hz:.1f}",
        f"{_ms(s.period_p50_ns)}/{_ms(s.period_p99_ns)}", s.clock,
        str(s.gap_count) if s.count > 1 else "-",
        f"{_ms(s.latency_p50_ns)}/{_ms(s.latency_p99_ns)}",
        _ms(s.clock_offset_ns),
        "-" if s.backwards is None else str(s.backwards),
        "-" if s.duplicates is None else str(s.duplicates),
    ]


def format_info(report: BagInfo) -> str:
    """The human-readable `info` text: bag summary, a topic table, episodes, warnings."""
    duration_s = report.duration_ns / 1e9
    lines = [
        f"bag:       {report.path}",
        f"storage:   {report.storage}, {report.size_bytes / 1e6:.2f} MB",
        f"messages:  {report.message_count} in {duration_s:.3f} s"
        + (f" (from {_utc(report.start_ns)})" if report.message_count else ""),
    ]
    episodes = report.episodes.episodes
    if episodes:
        outcomes = ", ".join(f"{k} {v}" for k, v in report.episodes.outcomes.items())
        tasks = ", ".join(sorted({e.task for e in episodes}))
        lines.append(f"episodes:  {len(episodes)} ({outcomes}); tasks: {tasks}")
    else:
        lines.append("episodes:  none announced (a build treats the whole bag as one episode)")
    header = ["topic", "type", "count", "rate Hz", "period p50/p99 ms", "clock", "gaps",
              "latency p50/p99 ms", "clock offset ms", "back", "dup"]
    rows = [header] + [_topic_row(t) for t in report.topics]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines.append("")
    lines += ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
    gaps = sorted(((length, t.topic, (start - (t.stats.first_ns or 0)) / 1e9)
                   for t in report.topics for start, length in t.stats.gaps), reverse=True)
    if gaps:
        lines.append("\nlongest gaps (topic: length, where from the topic's first stamp):")
        lines += [f"  {topic}: {_ms(length)} ms at +{offset_s:.3f} s"
                  for length, topic, offset_s in gaps[:MAX_GAPS_LISTED]]
    if report.warnings:
        lines.append("\nwarnings:")
        lines += [f"  - {w}" for w in report.warnings]
    return "\n".join(lines)


@click.command()
@click.argument("bag", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Where to write the repaired bag (default: BAG.repaired beside BAG).")
@json_option
@strict_option
def repair(bag: Path, output: Path | None, as_json: bool, strict: bool) -> None:
    """Make a bag whose recorder was killed (or whose files are damaged) readable again.

    BAG is never modified: every message that can still be read is copied into a new bag,
    BAG.repaired (or -o OUT), with a fresh index and metadata.yaml. mcap: every complete
    chunk and message before the cut; sqlite3: every row on a readable page, including rows
    a killed writer had not committed. Prints what came back per topic and what was lost.

    \b
    Example:
      robot-logger sim -o cut_bag --duration 5 --faults truncate=0.7
      robot-logger info cut_bag          # error: ... run `robot-logger repair cut_bag`
      robot-logger repair cut_bag
      robot-logger info cut_bag.repaired
    """
    from robot_logger.bag.repair.recover import repair_bag  # only `repair` needs it

    report = repair_bag(bag, output)
    if strict and (report.damaged or report.notes):
        raise BagError(f"{bag}: {report.damaged} unreadable parts were skipped (--strict); "
                       f"the partial copy is at {report.output}")
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(format_repair(report))


def format_repair(report: RepairReport) -> str:
    """The human-readable `repair` summary."""
    lines = [f"repaired:  {report.source} -> {report.output} ({report.storage}; "
             "the original is untouched)",
             f"recovered: {report.message_count} messages"]
    width = max((len(t) for t in report.recovered), default=0)
    lines += [f"  {topic.ljust(width)}  {n}" for topic, n in sorted(report.recovered.items())]
    lost = [f"an incomplete tail of {report.lost_bytes} bytes (whole messages in it were kept)"
            if report.lost_bytes else "",
            f"{report.damaged} unreadable chunks/pages/records" if report.damaged else ""]
    lost += [f"{n} {topic} messages that metadata.yaml counted"
             for topic, n in sorted(report.missing.items())]
    lines.append("lost:      " + ("; ".join(x for x in lost if x) or "nothing detected"))
    lines += [f"  - {note}" for note in report.notes]
    return "\n".join(lines)


COMMANDS = [info, repair]
