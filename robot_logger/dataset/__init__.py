"""Bags → training datasets: pure operations (`ops`), the build (`build`), reading, checking and
summarising built datasets (`read`), exports to other formats (`export`), and the HDF5 layout all
of them share (`schema`). Never imports `record`, `transport`, rclpy or cyclonedds."""
