"""The saved-register structures: pt_regs and user_regs_struct, with byte offsets."""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from abi.errors import AbiLookupError


@attrs.frozen
class Field:
    """One member of a structure: its name, byte offset and size."""

    name: str
    offset: int
    size: int


@attrs.frozen
class StructLayout:
    """A C structure of equal-sized words, laid out in declaration order without padding."""

    name: str
    source: str
    fields: tuple[Field, ...]

    @classmethod
    def of_words(cls, name: str, source: str, word_size: int, *names: str) -> StructLayout:
        """Lay out ``names`` as consecutive ``word_size``-byte members, refusing repeats."""
        if len(set(names)) != len(names):
            raise ValueError(f"{name}: a field name is repeated in {names!r}")
        fields = tuple(Field(n, i * word_size, word_size) for i, n in enumerate(names))
        return cls(name, source, fields)

    @property
    def size(self) -> int:
        """``sizeof`` the structure in bytes."""
        last = self.fields[-1]
        return last.offset + last.size

    @property
    def names(self) -> tuple[str, ...]:
        """The field names in declaration order."""
        return tuple(f.name for f in self.fields)

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def field(self, name: str) -> Field:
        """The field called ``name``."""
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise AbiLookupError(
            f"name: expected a field of {self.name} ({', '.join(self.names)}), received {name!r}"
        )

    def offset_of(self, name: str) -> int:
        """The byte offset of field ``name``."""
        return self.field(name).offset

    def field_at(self, offset: int) -> Field:
        """The field that starts at byte ``offset``."""
        for candidate in self.fields:
            if candidate.offset == offset:
                return candidate
        raise AbiLookupError(
            f"offset: expected a field offset of {self.name} (0..{self.size - 1}, "
            f"multiples of {self.fields[0].size}), received {offset!r}"
        )


_I386_NAMES = (
    "bx",
    "cx",
    "dx",
    "si",
    "di",
    "bp",
    "ax",
    "ds",
    "es",
    "fs",
    "gs",
    "orig_ax",
    "ip",
    "cs",
    "flags",
    "sp",
    "ss",
)
_X86_64_NAMES = (
    "r15",
    "r14",
    "r13",
    "r12",
    "bp",
    "bx",
    "r11",
    "r10",
    "r9",
    "r8",
    "ax",
    "cx",
    "dx",
    "si",
    "di",
    "orig_ax",
    "ip",
    "cs",
    "flags",
    "sp",
    "ss",
)

#: The 32-bit kernel's struct pt_regs (arch/x86/include/asm/ptrace.h, Linux 3.16):
#: seventeen unsigned longs, ebx first, in the order SAVE_ALL leaves them.
PT_REGS_32 = StructLayout.of_words(
    "pt_regs (i386)", "arch/x86/include/asm/ptrace.h", 4, *_I386_NAMES
)
#: The 64-bit kernel's struct pt_regs (arch/x86/include/asm/ptrace.h, Linux 3.16).
PT_REGS_64 = StructLayout.of_words(
    "pt_regs (x86_64)", "arch/x86/include/asm/ptrace.h", 8, *_X86_64_NAMES
)
#: struct user_regs_struct for i386 (arch/x86/include/asm/user_32.h): pt_regs' order; the
#: PTRACE_PEEKUSER offsets of a 32-bit tracee.
USER_REGS_32 = StructLayout.of_words(
    "user_regs_struct (i386)", "arch/x86/include/asm/user_32.h", 4, *_I386_NAMES
)
#: struct user_regs_struct for x86_64 (arch/x86/include/asm/user_64.h): pt_regs' order,
#: then fs_base, gs_base and the four data segment selectors.
USER_REGS_64 = StructLayout.of_words(
    "user_regs_struct (x86_64)",
    "arch/x86/include/asm/user_64.h",
    8,
    *_X86_64_NAMES,
    "fs_base",
    "gs_base",
    "ds",
    "es",
    "fs",
    "gs",
)
