"""Unit tests for abi.registers: ABIs, their registers and frozen register files."""

from collections.abc import Mapping

import attrs
import pytest

from abi import ABI_REGISTERS, ABIS, POINTER_WIDTH, REGISTER_WIDTH, RegisterFile


class TestAbis:
    """The three process ABIs and their widths."""

    def test_names(self):
        """The ABIs are i386, x86_64 and x32."""
        assert ABIS == ("i386", "x86_64", "x32")

    def test_widths(self):
        """x32 has 64-bit registers and 32-bit pointers (syscall(2): x32 shares x86-64's
        registers but has 32-bit long and pointers)."""
        assert REGISTER_WIDTH == {"i386": 32, "x86_64": 64, "x32": 64}
        assert POINTER_WIDTH == {"i386": 32, "x86_64": 64, "x32": 32}

    def test_register_names_are_lowercase_views(self):
        """Register names are the simulator's lowercase view names, in hardware order."""
        assert ABI_REGISTERS["i386"][:4] == ("eax", "ecx", "edx", "ebx")
        assert ABI_REGISTERS["x32"] == ABI_REGISTERS["x86_64"]
        assert len(ABI_REGISTERS["x86_64"]) == 16


class TestRegisterFile:
    """RegisterFile is a frozen, validated mapping."""

    def test_is_a_mapping(self):
        """It reads like a dict, in hardware order whatever the input order."""
        regs = RegisterFile("i386", {"ebx": 1, "eax": 3})
        assert isinstance(regs, Mapping)
        assert list(regs) == ["eax", "ebx"]
        assert dict(regs) == {"eax": 3, "ebx": 1}
        assert regs["eax"] == 3 and "ecx" not in regs and len(regs) == 2

    def test_frozen_and_hashable(self):
        """It cannot be changed in place, and equal files hash equal."""
        regs = RegisterFile("x86_64", [("rax", 0)])
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            regs.abi = "i386"
        assert hash(regs) == hash(RegisterFile("x86_64", {"rax": 0}))

    def test_replace(self):
        """replace returns a new file with some registers set."""
        regs = RegisterFile("x86_64", {"rax": 1}).replace(rdi=2)
        assert dict(regs) == {"rax": 1, "rdi": 2}

    @pytest.mark.parametrize(
        ("abi", "values", "error", "message"),
        [
            ("i386", {"rax": 1}, ValueError, "expected names from the i386 registers"),
            ("i386", {"eax": 2**32}, ValueError, r"registers\['eax'\]: expected 0..0xffffffff"),
            ("x86_64", {"rax": -1}, ValueError, r"registers\['rax'\]"),
            ("x86_64", {"rax": 1.0}, TypeError, "expected an int"),
            ("x86_64", {"rax": True}, TypeError, "expected an int"),
            ("arm", {}, ValueError, "abi: expected one of"),
            ("x86_64", [("rax", 1), ("rax", 2)], ValueError, "given twice"),
            ("x86_64", ["rax"], TypeError, r"expected \(name, value\) pairs"),
        ],
    )
    def test_misuse(self, abi, values, error, message):
        """Bad names, values and ABIs raise errors that name the field and the expectation."""
        with pytest.raises(error, match=message):
            RegisterFile(abi, values)

    def test_missing_register_is_a_mapping_key_error(self):
        """A register not in the file is a KeyError, as the Mapping protocol requires."""
        with pytest.raises(KeyError):
            RegisterFile("x32", {})["rax"]
