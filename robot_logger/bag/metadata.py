"""metadata.yaml for split recordings: one bag folder, several storage files, one metadata.yaml.

rosbag2's recorder writes a split recording as `OUT/OUT_0.mcap`, `OUT/OUT_1.mcap`, ... listed in
one `OUT/metadata.yaml` (`relative_file_paths` and `files`, message counts summed per topic), and
`ros2 bag info OUT` / `ros2 bag play OUT` read them as one bag. Each file here is first written as
a complete bag of its own (rosbags' Writer, metadata version 8); `merge_splits` turns their
metadata into the one rosbag2 writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = ["METADATA_VERSION", "merge_splits", "read_metadata", "write_metadata"]

METADATA = "metadata.yaml"
KEY = "rosbag2_bagfile_information"
# the metadata version every bag we write carries: Humble's rosbag2 reads versions <= 8
# (9 fails "bad conversion"); Jazzy reads 8 and 9
METADATA_VERSION: Literal[8] = 8


def read_metadata(folder: Path) -> dict[str, Any]:
    """The `rosbag2_bagfile_information` mapping of a bag folder."""
    info: dict[str, Any] = yaml.safe_load((folder / METADATA).read_text())[KEY]
    return info


def write_metadata(folder: Path, info: dict[str, Any]) -> None:
    """Write `info` as the folder's metadata.yaml, atomically (temporary file, then rename), so
    a reader never sees half a file."""
    tmp = folder / f".{METADATA}.tmp"
    tmp.write_text(yaml.safe_dump({KEY: info}, sort_keys=False))
    os.replace(tmp, folder / METADATA)


def merge_splits(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One bag's metadata from the metadata of its split files, in recording order: files and
    paths listed in order, message counts summed per topic (topic metadata from its first
    file), the time span from the earliest start to the latest end."""
    if not parts:
        raise ValueError("no split files to merge")
    files = [entry for part in parts for entry in part["files"]]
    counted = [f for f in files if f["message_count"]]
    start = min((f["starting_time"]["nanoseconds_since_epoch"] for f in counted), default=0)
    end = max(
        (
            f["starting_time"]["nanoseconds_since_epoch"] + f["duration"]["nanoseconds"]
            for f in counted
        ),
        default=0,
    )
    topics: dict[str, dict[str, Any]] = {}
    for part in parts:
        for entry in part["topics_with_message_count"]:
            name = entry["topic_metadata"]["name"]
            if name in topics:
                topics[name]["message_count"] += entry["message_count"]
            else:
                topics[name] = {
                    "topic_metadata": dict(entry["topic_metadata"]),
                    "message_count": entry["message_count"],
                }
    first = parts[0]
    return {
        **first,
        "relative_file_paths": [p for part in parts for p in part["relative_file_paths"]],
        "files": files,
        "starting_time": {"nanoseconds_since_epoch": start},
        "duration": {"nanoseconds": max(end - start, 0)},
        "message_count": sum(f["message_count"] for f in files),
        "topics_with_message_count": list(topics.values()),
        "custom_data": parts[-1].get("custom_data"),
    }
