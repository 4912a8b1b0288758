"""The exceptions abi raises when it is given something it cannot use."""

from __future__ import annotations


class TableFormatError(ValueError):
    """A syscall table line that the kernel's scripts would not turn into a valid table.

    ``source`` names the file (or the label given for text), ``line_number`` counts from 1,
    ``line`` is the offending line as read and ``problem`` says what is wrong with it.
    """

    def __init__(self, source: str, line_number: int, line: str, problem: str) -> None:
        self.source = source
        self.line_number = line_number
        self.line = line
        self.problem = problem
        super().__init__(f"{source}, line {line_number}: {problem}: {line!r}")


class AbiLookupError(LookupError, ValueError):
    """A name or number that abi's data does not hold (an errno, an auxv type, ...)."""


class UnknownSyscallError(AbiLookupError):
    """A syscall name or number that the chosen ABI's table does not hold."""


class UnknownAbiError(AbiLookupError):
    """An ABI, table ABI, convention or profile name that abi does not know."""
