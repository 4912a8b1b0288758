"""Modules imported the first time one of their names is read.

``import simulator`` loads the CPU model, the trace and the facade; the toy kernel
(simulator.kernel) and the assembler load with the first ``Machine.boot``, which is the
first thing that reads one of their names. What a user of the CPU model alone, of the
trace format or of ``abi`` does not use, they do not wait for.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy(name: str) -> ModuleType:
    """The module ``name``, to be executed when one of its attributes is first read
    (importlib.util.LazyLoader); an already imported module is returned as it is."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"name: expected an importable module, received {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
