"""coremltools' generated protobuf classes (``Model_pb2``, ...), without coremltools.

``import coremltools.proto.Model_pb2`` runs ``coremltools/__init__`` first, which imports
torch, TensorFlow and scikit-learn when they are installed: seconds and hundreds of MB
for classes that need only protobuf. The generated modules import nothing of coremltools
but each other (``from . import MIL_pb2``), so here coremltools' ``proto`` folder is loaded
as a package of its own, :data:`PACKAGE`: the same files and message descriptors, and
coremltools' package init never runs. coremltools can still be imported beside it: the
default descriptor pool accepts a ``.proto`` file added again with the same content.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

#: The name the generated modules are loaded under (``_coremltools_proto.Model_pb2``).
PACKAGE = "_coremltools_proto"


def module(name: str) -> ModuleType:
    """The generated module ``name`` of coremltools (``"Model_pb2"``, ``"MIL_pb2"``, ...).

    Raises:
        ModuleNotFoundError: coremltools is not installed.
    """
    _package()
    return importlib.import_module(f"{PACKAGE}.{name}")


@functools.cache
def _package() -> ModuleType:
    found = importlib.util.find_spec("coremltools")  # finds it, does not import it
    if found is None or not found.submodule_search_locations:
        raise ModuleNotFoundError("coremltools is not installed: its protobuf files are needed")
    folder = Path(next(iter(found.submodule_search_locations))) / "proto"
    spec = importlib.util.spec_from_file_location(
        PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"{folder}: not coremltools' protobuf package")
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package  # the generated modules' relative imports resolve here
    try:
        spec.loader.exec_module(package)
    except BaseException:
        del sys.modules[PACKAGE]
        raise
    return package
