"""open3d's compiled core (`open3d.pybind`) without running the `open3d` package's __init__.

`import open3d` also imports open3d.visualization (which pulls in dash and plotly) and open3d.ml:
0.76 s of a one-bag build on an idle 2-core machine, ~half of it outside the compiled module
(measured with `python -X importtime`). Sampling a point cloud needs only `geometry` and
`utility`, so this module imports `open3d.pybind` under a placeholder parent package and removes
the placeholder again: a later `import open3d` anywhere in the process runs the real __init__,
which reuses the already loaded `open3d.pybind`. If open3d's layout ever differs, the whole
package is imported instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["geometry", "utility"]


def _load() -> types.ModuleType:
    if "open3d" in sys.modules:
        return importlib.import_module("open3d")
    spec = importlib.util.find_spec("open3d")
    if spec is None or not spec.submodule_search_locations:
        return importlib.import_module("open3d")      # raises the usual ImportError
    placeholder = types.ModuleType("open3d")
    placeholder.__path__ = list(spec.submodule_search_locations)
    sys.modules["open3d"] = placeholder
    try:
        return importlib.import_module("open3d.pybind")
    except ImportError:
        return importlib.import_module("open3d")
    finally:
        if sys.modules.get("open3d") is placeholder:
            del sys.modules["open3d"]


_core = _load()
geometry = _core.geometry
utility = _core.utility
