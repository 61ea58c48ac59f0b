"""Record the cell: `ros2 launch robot_logger record_cell.launch.py output:=run_042`.

Starts the `recorder` node with config/cell.yaml (`recorder: ros__parameters`); `config:=FILE`
uses another parameter file, `output:=BAG` overrides the bag folder.
`output` is handed over as a string ParameterValue: launch YAML-parses a bare substitution, so
`output:=2024_05_01` would arrive as the integer 20240501 and the node would refuse it.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    default_config = os.path.join(
        get_package_share_directory("robot_logger"), "config", "cell.yaml"
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "config",
                default_value=default_config,
                description="Parameter file with a `recorder:` section.",
            ),
            DeclareLaunchArgument(
                "output", default_value="cell_bag", description="Bag folder to create."
            ),
            Node(
                package="robot_logger",
                executable="recorder",
                name="recorder",
                output="screen",
                parameters=[
                    LaunchConfiguration("config"),
                    {"output": ParameterValue(LaunchConfiguration("output"), value_type=str)},
                ],
            ),
        ]
    )
