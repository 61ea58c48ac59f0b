"""Synthetic robot cell: arms, cameras, LiDAR and episode events as rosbag2 messages, with faults.

`Cell(CellSpec(...), parse_faults("..."))` yields every message (CDR bytes) in log-time order and
knows the ground truth (exact joint trajectories, episodes); `write_bag` writes it to mcap or
sqlite3. Topics: /cell/arm{i}/joint_states (JointState, 500 Hz), /cell/cam{i}/image_raw (rgb8,
30 Hz), /cell/lidar/points (PointCloud2 x,y,z,intensity, 10 Hz), /robot_logger/events; with the
CellSpec flags (`sim --sensors`) also JointTrajectory commands, gripper Float64s, wrist
WrenchStamped, 16UC1 depth, CameraInfo and /tf_static (topic names in robot_logger.sim.spec,
truth functions listed in robot_logger.sim.cell). header.stamp is the sample time (or a device
clock's reading of it); log time adds a transport latency. The fault syntax is in
`robot_logger.sim.faults`.
"""

from robot_logger.sim.cell import Cell, SimMessage
from robot_logger.sim.faults import Faults, TopicFaults, parse_faults
from robot_logger.sim.spec import CellSpec, EpisodeTruth
from robot_logger.sim.writer import write_bag

__all__ = ["Cell", "CellSpec", "EpisodeTruth", "Faults", "SimMessage", "TopicFaults",
           "parse_faults", "write_bag"]
