"""Pure vocabulary shared by every layer: episode events and Episode/Phase (`events`), ROS 2
message helpers — the typestore, topic/type names, CDR (de)serialisation (`messages`) — and YAML
files checked key path by key path (`yamlfile`). Imports nothing of robot_logger but `errors`."""
