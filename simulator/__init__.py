"""ringsim: a pure-Python x86 ring-transition simulator.

The CPU model is :mod:`simulator.cpu`; the kernel and the Machine facade build on it.
"""

from simulator import cpu

__all__ = ["cpu"]
