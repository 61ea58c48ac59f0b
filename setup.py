"""robot_logger: ament_python package and pip-installable CLI."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "robot_logger"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["py.typed"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    python_requires=">=3.10",
    install_requires=[
        "rosbags==0.11.9",
        "cyclonedds==11.0.1",
        "numpy>=1.26,<3",
        "h5py>=3.10,<4",
        "click>=8.1,<9",
        "tqdm>=4.66,<5",
        "pyyaml>=6,<7",
        "matplotlib>=3.8,<4",
        "psutil>=5.9,<8",
        "zstandard>=0.22,<1",
        "isal>=1.7,<2",
        "mcap>=1.1,<2",
        "open3d-cpu==0.20.0",
        "pillow>=10,<14",
        "hdf5plugin>=5,<8",   # the fast/small image profiles (bitshuffle, Blosc2) and reading them
    ],
    extras_require={
        "ray": ["ray==2.60.0"],
        "blosc": [],   # hdf5plugin is a dependency now; the extra stays for old install lines
        # LeRobot v3 export: PyAV in lerobot 0.6.1's own range (same encoders), pyarrow for parquet
        "export": ["av>=15,<16", "pyarrow>=21,<30"],
        "test": ["pytest>=8", "av>=15,<16", "pyarrow>=21,<30", "hypothesis>=6.100",
                 "ray==2.60.0", "torch==2.13.0",
                 "hdf5plugin>=5,<8", "colcon-common-extensions>=0.3,<1",
                 "ruff==0.17.6", "mypy>=2,<3",
                 # 2.16+ need Python 3.11; lint runs on 3.11, the suite on 3.10 (Humble) too
                 "import-linter==2.17; python_version >= '3.11'", "types-PyYAML",
                 "types-psutil"],
    },
    zip_safe=True,
    maintainer="robot_logger team",
    maintainer_email="robot-logger@example.com",
    description="Robot-cell recorder and bag-to-HDF5 dataset builder",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "robot-logger = robot_logger.cli:main",
            "recorder = robot_logger.nodes.recorder_node:main",
            "sim_cell = robot_logger.nodes.sim_cell_node:main",
        ],
    },
)
