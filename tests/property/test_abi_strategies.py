"""Property tests for abi.strategies: valid draws, shrinking toward zero, bad options."""

import pytest
from hypothesis import find, given
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from abi import (
    ABI_REGISTERS,
    REGISTER_WIDTH,
    SyscallEntry,
    lookup_syscall,
    user_limit,
)
from abi.strategies import (
    register_files,
    syscall_invocations,
    syscall_numbers,
    syscalls,
    table_entries,
    user_pointers,
)


class TestRegisterFiles:
    """register_files draws full, in-range register files."""

    @given(data=st.data(), abi=st.sampled_from(["i386", "x86_64", "x32"]))
    def test_fit_the_abi(self, data, abi):
        """Every register of the ABI is present and fits its width."""
        regs = data.draw(register_files(abi=abi))
        assert tuple(regs) == ABI_REGISTERS[abi]
        assert all(0 <= v < 2 ** REGISTER_WIDTH[abi] for v in regs.values())

    @given(regs=register_files(abi="i386", registers=["eax", "ebx"]))
    def test_subset(self, regs):
        """registers= limits the file to the named registers."""
        assert set(regs) == {"eax", "ebx"}

    def test_shrinks_to_zero(self):
        """The minimal register file is all zeros."""
        regs = find(register_files(abi="x86_64"), lambda r: True)
        assert set(regs.values()) == {0}


class TestSyscalls:
    """syscalls and syscall_numbers draw real numbers of the ABI."""

    @given(number=syscall_numbers(abi="x32"))
    def test_x32_numbers_carry_the_bit(self, number):
        """x32 numbers include __X32_SYSCALL_BIT and look up to themselves."""
        assert number & 0x40000000
        assert lookup_syscall(number, abi="x32").number == number

    @given(syscall=syscalls(abi="x86_64", implemented=False))
    def test_holes_only(self, syscall):
        """implemented=False draws holes only."""
        assert syscall.entry.entry_point is None

    def test_shrinks_to_lowest_number(self):
        """The minimal i386 syscall is number 0, restart_syscall."""
        assert find(syscall_numbers(abi="i386"), lambda n: True) == 0


class TestInvocations:
    """syscall_invocations places number and arguments where the caller puts them."""

    @given(invocation=syscall_invocations(abi="i386"))
    def test_registers_follow_the_caller_view(self, invocation):
        """eax holds the number and the six argument registers hold the six values."""
        caller = invocation.convention.caller
        assert invocation.registers[caller.number] == invocation.number
        assert tuple(invocation.registers[r] for r in caller.registers) == invocation.args

    @given(invocation=syscall_invocations(abi="x32", args=st.integers(0, 0xFFFFFFFF)))
    def test_x32_with_32_bit_arguments(self, invocation):
        """x32 invocations use rax with the bit set, and args= narrows the values."""
        assert invocation.registers["rax"] & 0x40000000
        assert all(v <= 0xFFFFFFFF for v in invocation.args)

    def test_shrinks_to_first_convention_and_zero_args(self):
        """The minimal invocation is INT 0x80, syscall 0, all-zero arguments."""
        invocation = find(syscall_invocations(abi="i386"), lambda i: True)
        assert invocation.convention.via == "int80"
        assert (invocation.number, invocation.args) == (0, (0,) * 6)

    def test_bad_argument_strategy_values(self):
        """An args strategy that draws values too wide for the ABI is reported."""
        strategy = syscall_invocations(abi="i386", args=st.just(2**32))
        with pytest.raises(InvalidArgument, match="args drew"):
            find(strategy, lambda i: True)


class TestUserPointers:
    """user_pointers stays in user space and honours size and alignment."""

    @given(data=st.data())
    def test_within_user_space(self, data):
        """Pointer plus size never passes the ABI's user limit; alignment holds."""
        abi = data.draw(st.sampled_from(["i386", "x86_64", "x32"]))
        pointer = data.draw(user_pointers(abi=abi, size=16, alignment=8))
        assert pointer % 8 == 0 and pointer + 16 <= user_limit(abi)

    def test_reaches_the_top(self):
        """The largest pointer for an i386 process on an i386 kernel ends at 0xC0000000."""
        top = find(user_pointers(abi="i386", kernel="i386", size=4), lambda p: p > 0xBFFFFFF0)
        assert top == 0xBFFFFFF1


class TestTableEntries:
    """table_entries draws lines of the shipped tables."""

    @given(entry=table_entries(abis=["x32"]))
    def test_filters_by_abi(self, entry):
        """abis= keeps only those ABI columns."""
        assert isinstance(entry, SyscallEntry) and entry.abi == "x32"
        assert 512 <= entry.number <= 544


class TestInvalidArguments:
    """Bad options raise Hypothesis's InvalidArgument, naming the option."""

    @pytest.mark.parametrize(
        ("make", "message"),
        [
            (lambda: register_files(abi="arm"), "abi='arm'"),
            (lambda: register_files(abi="i386", registers=["rax"]), "registers='rax'"),
            (lambda: register_files(registers="rax"), "registers='rax'"),
            (lambda: register_files(registers=["rax", "rax"]), "named twice"),
            (lambda: syscall_numbers(profile="linux-1.0"), "profile='linux-1.0'"),
            (lambda: syscall_numbers(implemented="yes"), "implemented='yes'"),
            (lambda: syscall_invocations(abi="x86_64", via="int80"), "via='int80'"),
            (lambda: syscall_invocations(args=[1, 2]), "args="),
            (lambda: user_pointers(alignment=3), "power of two"),
            (lambda: user_pointers(size=0), "size=0"),
            (lambda: user_pointers(abi="x86_64", kernel="i386"), "kernel='i386'"),
            (lambda: table_entries(table_file="syscall.tbl"), "table_file='syscall.tbl'"),
            (lambda: table_entries(abis=["x86_64"]), "abis='x86_64'"),
            (lambda: table_entries(abis=["i386"], table_file="syscall_64.tbl"), "no table"),
        ],
    )
    def test_invalid(self, make, message):
        """Each bad option is refused with InvalidArgument."""
        with pytest.raises(InvalidArgument, match=message):
            make()
