"""ringsim: a pure-Python x86 ring-transition simulator.

The CPU model is :mod:`simulator.cpu`; :class:`Machine` boots the toy Linux on it.
"""

from simulator import cpu
from simulator.machine import Machine, Process, RunResult, SyscallResult
from simulator.trace import Event, Trace

__all__ = ["Event", "Machine", "Process", "RunResult", "SyscallResult", "Trace", "cpu"]
