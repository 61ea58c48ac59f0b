"""Exception families. The CLI turns any RobotLoggerError into `error: …` and exit code 2."""

__all__ = [
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
