"""Register views agree with each other for any values and any sequence of writes."""

from hypothesis import given
from hypothesis import strategies as st

from simulator.cpu import Registers
from simulator.cpu import registers as R

GPR_VIEWS = [v for v in R.VIEWS.values() if v.index < 16]


def _reference_write(bank: list[bytearray], view: R.View, value: int) -> None:
    """A byte-array model: each register is 8 little-endian bytes."""
    reg = bank[view.index]
    if view.width == 32:
        reg[:] = value.to_bytes(4, "little") + b"\0\0\0\0"
        return
    start = view.shift // 8
    reg[start : start + view.width // 8] = value.to_bytes(view.width // 8, "little")


def _reference_read(bank: list[bytearray], view: R.View) -> int:
    start = view.shift // 8
    return int.from_bytes(bank[view.index][start : start + view.width // 8], "little")


writes = st.lists(
    st.sampled_from(GPR_VIEWS).flatmap(
        lambda v: st.tuples(st.just(v), st.integers(0, (1 << v.width) - 1))
    ),
    max_size=40,
)


class TestViewsAgree:
    @given(writes)
    def test_every_view_matches_a_byte_model(self, ops):
        """After any writes, every view reads what an independent byte-array model says."""
        regs = Registers()
        bank = [bytearray(8) for _ in range(16)]
        for view, value in ops:
            regs.write(view.name, value)
            _reference_write(bank, view, value)
        for view in GPR_VIEWS:
            assert regs.read(view.name) == _reference_read(bank, view), view.name

    @given(st.sampled_from(range(16)), st.integers(0, (1 << 64) - 1))
    def test_views_are_slices_of_the_full_register(self, index, value):
        """Each view of a register equals the matching bits of its 64-bit value."""
        regs = Registers()
        full = R.GPR_NAMES[index]
        regs.write(full, value)
        for view in GPR_VIEWS:
            if view.index == index:
                assert regs.read(view.name) == (value >> view.shift) & view.mask

    @given(writes)
    def test_other_registers_untouched(self, ops):
        """A write through a view never changes another register."""
        regs = Registers()
        for view, value in ops:
            before = list(regs.r)
            regs.write(view.name, value)
            for i in range(R.COUNT):
                if i != view.index:
                    assert regs.r[i] == before[i]
