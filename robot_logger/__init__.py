"""robot_logger: record a robot cell into rosbag2 bags and turn bags into HDF5 training datasets."""

__version__ = "0.1.0"

__all__ = ["__version__"]
