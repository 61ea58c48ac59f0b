"""Pure numpy operations of the dataset build — no file or network I/O: time alignment (`align`),
streaming frame choice (`frames`), JointState batches from raw CDR (`jointstate`), image decoding
and resizing (`images`), point-cloud extraction and sampling (`pointcloud`), per-frame labels
(`labels`) and mergeable running statistics (`stats`)."""
