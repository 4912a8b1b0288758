"""Exception vectors, which push error codes, and the #PF error-code bits."""

import pytest

from simulator.cpu import Fault, NotModeled, faults


class TestVectors:
    @pytest.mark.parametrize(
        ("name", "vector", "mnemonic"),
        [
            ("DE", 0, "#DE"),
            ("DB", 1, "#DB"),
            ("NMI", 2, "NMI"),
            ("BP", 3, "#BP"),
            ("OF", 4, "#OF"),
            ("BR", 5, "#BR"),
            ("UD", 6, "#UD"),
            ("NM", 7, "#NM"),
            ("DF", 8, "#DF"),
            ("TS", 10, "#TS"),
            ("NP", 11, "#NP"),
            ("SS", 12, "#SS"),
            ("GP", 13, "#GP"),
            ("PF", 14, "#PF"),
            ("MF", 16, "#MF"),
            ("AC", 17, "#AC"),
            ("MC", 18, "#MC"),
            ("XM", 19, "#XM"),
            ("VE", 20, "#VE"),
            ("CP", 21, "#CP"),
        ],
    )
    def test_vector_numbers(self, name, vector, mnemonic):
        """Each exception has its vector and mnemonic (SDM Vol. 3A §6.3.1 Table 6-1)."""
        assert getattr(faults, name) == vector
        assert Fault(vector).mnemonic == mnemonic

    def test_error_code_vectors(self):
        """#DF, #TS, #NP, #SS, #GP, #PF, #AC and #CP push an error code (SDM Vol. 3A §6.15)."""
        assert faults.ERROR_CODE_VECTORS == {8, 10, 11, 12, 13, 14, 17, 21}

    def test_vector_range(self):
        """A vector outside 0..255 is refused."""
        with pytest.raises(ValueError):
            Fault(256)


class TestPageFaultBits:
    def test_error_code_bits(self):
        """P bit 0, W/R bit 1, U/S bit 2, RSVD bit 3, I/D bit 4 (SDM Vol. 3A §4.7 Figure 4-12)."""
        assert (faults.PF_P, faults.PF_WR, faults.PF_US, faults.PF_RSVD, faults.PF_ID) == (
            1,
            2,
            4,
            8,
            16,
        )


class TestText:
    def test_fault_text(self):
        """A fault reads as the manual writes it: #GP(0), #PF(0x5) at its address."""
        assert str(Fault(13, 0)) == "#GP(0)"
        assert str(Fault(14, 5, 0x1000)) == "#PF(0x5) at 0x1000"
        assert str(Fault(6)) == "#UD"

    def test_not_modeled_text(self):
        """A not-modeled stop says so in its text."""
        assert str(NotModeled("x")) == "not modeled by ringsim: x"
