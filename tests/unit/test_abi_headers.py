"""Unit tests for abi.headers and `python -m abi headers`: the generated 3.16 headers."""

import hashlib
import re

import pytest

from abi import (
    HEADER_RULES,
    X32_SYSCALL_BIT,
    generated_headers,
    syscall_number,
    syscall_table,
    syscallhdr_sh,
    syscalltbl_sh,
)
from abi.__main__ import main
from abi.headers import file_guard
from abi.kernel_tables import emitted

# sha256 of each header as Linux 3.16's arch/x86/syscalls/syscalltbl.sh and syscallhdr.sh
# write it when run under sh with the arguments arch/x86/syscalls/Makefile gives them,
# on the shipped tables.
KERNEL_SCRIPT_SHA256 = {
    "asm/syscalls_32.h": "5be80d6a317800b94b50d9abe305572b05e8eced9df3bbff701f5cefa8c4de66",
    "asm/syscalls_64.h": "b127883bc56d4c160b853b0a366f218f3c4f02e71798efda92d527b30e484cd6",
    "asm/unistd_32_ia32.h": "a591d86455222aece699cf685fa681d1e45c4bea0b01838e3bb70d81afe3f2a7",
    "asm/unistd_64_x32.h": "fcc1774132231a8316991ae7f11d4bda891dd9b82d4ce6c41539db3d5f763062",
    "uapi/asm/unistd_32.h": "55826f8cc25c2879d128bdafa3534ed9d9ebdf05066b48f6709bb09b52df0468",
    "uapi/asm/unistd_64.h": "9603482c7279f28865eb4f472ebb1a52ba5ed3c936096d04664ac4bd22364422",
    "uapi/asm/unistd_x32.h": "e187d57a1fd460a157f83c50b7a88f4b5a48813bee3f3d3fdc9d4135578d7d19",
}
DEFINE = re.compile(r"#define __NR_(\w+) (?:\(__X32_SYSCALL_BIT \+ (\d+)\)|(\d+))\n")


class TestByteForByte:
    """The headers equal what the 3.16 scripts print for the same tables."""

    @pytest.mark.parametrize("path", sorted(KERNEL_SCRIPT_SHA256))
    def test_matches_the_kernel_scripts(self, path):
        """Each header's sha256 equals that of Linux 3.16 syscalltbl.sh/syscallhdr.sh's
        output (arch/x86/syscalls/, run under sh with the Makefile's arguments)."""
        text = generated_headers()[path]
        assert hashlib.sha256(text.encode("ascii")).hexdigest() == KERNEL_SCRIPT_SHA256[path]

    def test_seven_headers(self):
        """A 64-bit 3.16 build generates seven headers (arch/x86/syscalls/Makefile)."""
        assert sorted(generated_headers()) == sorted(KERNEL_SCRIPT_SHA256)
        assert len(HEADER_RULES) == 7

    def test_lwn_example(self):
        """LWN 604515 and 3.16 syscalltbl.sh: `3 i386 read sys_read` becomes
        `__SYSCALL_I386(3, sys_read, sys_read)`."""
        assert "__SYSCALL_I386(3, sys_read, sys_read)\n" in generated_headers()["asm/syscalls_32.h"]

    def test_compat_column_in_syscalls_32(self):
        """syscalltbl.sh passes the 5th column as compat (3.16 syscall_32.tbl line 11)."""
        text = generated_headers()["asm/syscalls_32.h"]
        assert "__SYSCALL_I386(11, sys_execve, stub32_execve)\n" in text

    def test_syscalls_64_macros(self):
        """syscalls_64.h uses __SYSCALL_COMMON, __SYSCALL_64 and __SYSCALL_X32 (3.16)."""
        text = generated_headers()["asm/syscalls_64.h"]
        assert text.startswith("__SYSCALL_COMMON(0, sys_read, sys_read)\n")
        assert "__SYSCALL_64(59, stub_execve, stub_execve)\n" in text
        assert text.endswith("__SYSCALL_X32(544, compat_sys_io_submit, compat_sys_io_submit)\n")

    def test_holes_are_skipped_by_syscalltbl_but_kept_by_syscallhdr(self):
        """`17 i386 break` has no entry point: no __SYSCALL_I386 line, but __NR_break 17."""
        assert "(17," not in generated_headers()["asm/syscalls_32.h"]
        assert "#define __NR_break 17\n" in generated_headers()["uapi/asm/unistd_32.h"]

    def test_unistd_x32_offsets(self):
        """unistd_x32.h writes (__X32_SYSCALL_BIT + nr) (Makefile: syshdr_offset_unistd_x32)."""
        text = generated_headers()["uapi/asm/unistd_x32.h"]
        assert "#define __NR_read (__X32_SYSCALL_BIT + 0)\n" in text
        assert "#define __NR_execve (__X32_SYSCALL_BIT + 520)\n" in text

    def test_prefixes(self):
        """unistd_32_ia32.h prefixes ia32_, unistd_64_x32.h x32_ (3.16 Makefile)."""
        headers = generated_headers()
        assert "#define __NR_ia32_read 3\n" in headers["asm/unistd_32_ia32.h"]
        assert "#define __NR_x32_execve 520\n" in headers["asm/unistd_64_x32.h"]

    def test_guard(self):
        """syscallhdr.sh's guard: _ASM_X86_ and the upper-cased basename, `.` made `_`."""
        assert file_guard("uapi/asm/unistd_64_x32.h") == "_ASM_X86_UNISTD_64_X32_H"
        assert generated_headers()["uapi/asm/unistd_64.h"].startswith(
            "#ifndef _ASM_X86_UNISTD_64_H\n#define _ASM_X86_UNISTD_64_H 1\n\n"
        )
        assert file_guard("a__b___c.h") == "_ASM_X86_A_B__C_H"


class TestAgreeWithTables:
    """Every generated line agrees with the parsed tables and the lookups."""

    @pytest.mark.parametrize(
        ("path", "abi"),
        [
            ("uapi/asm/unistd_32.h", "i386"),
            ("uapi/asm/unistd_64.h", "x86_64"),
            ("uapi/asm/unistd_x32.h", "x32"),
        ],
    )
    def test_defines_match_lookups(self, path, abi):
        """Each #define gives the number syscall_number returns for that ABI."""
        text = generated_headers()[path]
        defines = DEFINE.findall(text)
        assert defines
        for name, x32_number, plain_number in defines:
            number = X32_SYSCALL_BIT + int(x32_number) if x32_number else int(plain_number)
            assert syscall_number(name, abi=abi) == number

    @pytest.mark.parametrize("file_name", ["syscall_32.tbl", "syscall_64.tbl"])
    def test_syscall_lines_match_entries(self, file_name):
        """Each __SYSCALL_ line is one table entry with an entry point, in numeric order."""
        table = syscall_table(file_name)
        lines = syscalltbl_sh(table).splitlines()
        expected = [
            f"__SYSCALL_{e.abi.upper()}({e.number}, {sym}, {compat})"
            for e, sym, compat in emitted(table)
        ]
        assert lines == expected

    def test_abis_must_be_a_sequence(self):
        """syscallhdr_sh refuses a bare string of ABIs."""
        with pytest.raises(ValueError, match="abis"):
            syscallhdr_sh(syscall_table("syscall_32.tbl"), "unistd_32.h", "i386")


class TestCommandLine:
    """`python -m abi headers --profile linux-3.16 --out DIR` writes the seven headers."""

    def test_writes_kernel_layout(self, tmp_path, capsys):
        """The headers land under DIR/asm and DIR/uapi/asm, as in include/generated/."""
        assert main(["headers", "--profile", "linux-3.16", "--out", str(tmp_path)]) == 0
        for path, digest in KERNEL_SCRIPT_SHA256.items():
            data = (tmp_path / path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest
        assert len(capsys.readouterr().out.splitlines()) == 7

    def test_unknown_profile_is_a_usage_error(self, tmp_path):
        """An unknown profile stops argparse with exit status 2."""
        with pytest.raises(SystemExit) as caught:
            main(["headers", "--profile", "linux-9.9", "--out", str(tmp_path)])
        assert caught.value.code == 2

    def test_explain_command(self, capsys):
        """`python -m abi explain read` prints the report."""
        assert main(["explain", "read"]) == 0
        assert "sys_read(fd, buf, count)" in capsys.readouterr().out

    def test_explain_unknown_name(self, capsys):
        """An unknown name exits 1 with the suggestion on stderr."""
        assert main(["explain", "raed"]) == 1
        assert "did you mean read" in capsys.readouterr().err
