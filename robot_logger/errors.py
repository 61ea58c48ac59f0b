"""Exception families. The CLI turns any RobotLoggerError into `error: …` and exit code 2.

`reason` and `disk_full` phrase a third-party error for the one-line messages these carry.
"""

import errno

__all__ = [
    "reason",
    "disk_full",
    "RobotLoggerError",
    "BagError",
    "ConfigError",
    "DatasetError",
    "TransportError",
]


class RobotLoggerError(Exception):
    """Base of every error a user can act on; the message says what is wrong and where."""


class BagError(RobotLoggerError):
    """A bag is missing, corrupt, truncated, empty where it must not be, or not a bag."""


class ConfigError(RobotLoggerError):
    """A config file or option is wrong; the message names the file and the key."""


class DatasetError(RobotLoggerError):
    """An HDF5 dataset cannot be written or read as the layout contract says."""


class TransportError(RobotLoggerError):
    """The middleware (rclpy or Cyclone DDS) cannot be used as asked."""


def disk_full(err: BaseException) -> bool:
    """True when `err` says the disk is full: the OS's ENOSPC, or sqlite's "database or disk is
    full" (which carries no errno)."""
    text = str(err)
    return (getattr(err, "errno", None) == errno.ENOSPC or "No space left" in text
            or "disk is full" in text)


def reason(err: BaseException) -> str:
    """One short line saying why `err` happened ("disk full" when it was), to put in a message."""
    if disk_full(err):
        return "disk full"
    text = str(err).strip().rstrip(".") or type(err).__name__
    return text.splitlines()[0]
