"""Simulate the cell live and record it.

Run: `ros2 launch robot_logger sim_cell.launch.py record:=true`.

Starts the `sim_cell` node (config/cell.yaml, `sim_cell: ros__parameters`) and, with `record:=true`
(the default), the recorder from record_cell.launch.py with the same parameter file.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("robot_logger")
    default_config = os.path.join(share, "config", "cell.yaml")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "config",
                default_value=default_config,
                description="Parameter file with `sim_cell:` and `recorder:` sections.",
            ),
            DeclareLaunchArgument(
                "record", default_value="true", description="Also start the recorder."
            ),
            DeclareLaunchArgument(
                "output", default_value="sim_cell_bag", description="Bag folder to create."
            ),
            Node(
                package="robot_logger",
                executable="sim_cell",
                name="sim_cell",
                output="screen",
                parameters=[LaunchConfiguration("config")],
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    os.path.join(share, "launch", "record_cell.launch.py")
                ),
                launch_arguments={
                    "config": LaunchConfiguration("config"),
                    "output": LaunchConfiguration("output"),
                }.items(),
                condition=IfCondition(LaunchConfiguration("record")),
            ),
        ]
    )
