"""Exports of built HDF5 datasets into other training formats (LeRobot v3.0: `lerobot.py`)."""

from robot_logger.dataset.export.lerobot import (
    CODEBASE_VERSION,
    ExportSummary,
    Kind,
    Placement,
    Progress,
    VideoFile,
    export_lerobot,
)
from robot_logger.dataset.export.video import CODEC_DEFAULTS, VideoOptions

__all__ = ["export_lerobot", "ExportSummary", "VideoOptions", "Placement", "Kind", "VideoFile",
           "Progress", "CODEBASE_VERSION", "CODEC_DEFAULTS"]
