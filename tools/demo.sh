#!/usr/bin/env bash
# End-to-end demo: simulate a robot cell bag -> inspect it -> build an HDF5 dataset -> validate -> look.
# Usage: tools/demo.sh VENV_BIN OUT_DIR   (the Makefile's `make demo` calls it)
set -euo pipefail
bin=${1:-.venv/bin}
out=${2:-demo_out}
rl="$bin/robot-logger"
rm -rf "$out"
mkdir -p "$out"
step() { printf '\n== %s\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

step "1/6 simulate a 20 s cell: 2 arms @500 Hz, 2 cameras 640x480 @30 Hz, LiDAR 30k pts @10 Hz, with faults" \
    "$rl" sim -o "$out/cell_bag" --duration 20 --seed 7 \
    --faults "/cell/cam2/image_raw:drop=0.05;/cell/arm2/joint_states:outage=6.0-6.5"
step "2/6 inspect the bag" "$rl" info "$out/cell_bag"
step "3/6 build a dataset with the documented config" \
    "$rl" build "$out/cell_bag" -o "$out/cell.h5" --config config/dataset.yaml
step "4/6 validate it against the layout contract" "$rl" validate "$out/cell.h5"
step "5/6 what the dataset holds" "$rl" stats "$out/cell.h5"
step "6/6 a picture of episode demo_0" "$rl" preview "$out/cell.h5" --episode demo_0 -o "$out/preview.png"

cat <<MSG

Demo done. Outputs:
  bag      $out/cell_bag/        (rosbag2, mcap; open with ros2 bag info or robot-logger info)
  dataset  $out/cell.h5          (robomimic-compatible HDF5; robot_logger.dataset.read.loader.SequenceDataset)
  preview  $out/preview.png      (camera frames, joints with phases, LiDAR top view, stream validity)
MSG
