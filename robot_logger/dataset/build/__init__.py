"""Bags → HDF5: the build config (`config`), labels files (`labels_file`), the plan (`plan`:
bags found and probed (`probe`), episodes numbered, columns fixed, tasks cut) and the run
(`pipeline.build_dataset`), the per-episode builder (`episode`), the HDF5 writer (`writer`),
sharded outputs and their fingerprints (`shards`, `fingerprint`), and where tasks run
(`executors`: local processes or Ray)."""
