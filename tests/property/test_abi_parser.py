"""Property tests for abi.tbl: random text, and tables written then read back."""

from hypothesis import given
from hypothesis import strategies as st

from abi import SyscallEntry, TableFormatError, parse_table
from abi.strategies import table_entries

# Text built from the characters tables are made of, plus anything else, so that many
# draws reach the column checks rather than being skipped as non-digit lines.
table_alphabet = st.sampled_from("0123456789 \t\n#_abcix-.\r") | st.characters()
table_like_text = st.text(alphabet=table_alphabet)


class TestRandomText:
    """Whatever the text, the parser returns a table or raises TableFormatError."""

    @given(text=st.text() | table_like_text)
    def test_only_table_format_errors(self, text):
        """Random text yields entries or a TableFormatError naming a real line."""
        try:
            table = parse_table(text, source="fuzz.tbl")
        except TableFormatError as error:
            assert error.source == "fuzz.tbl"
            assert text.split("\n")[error.line_number - 1] == error.line
        else:
            assert len({entry.number for entry in table}) == len(table)

    @given(line=st.from_regex(r"\A[0-9][0-9 \t]*[^\n]*\Z"))
    def test_digit_lines_are_never_skipped(self, line):
        """A line that starts with a digit is parsed or refused, never ignored."""
        try:
            table = parse_table(line)
        except TableFormatError as error:
            assert error.line_number == 1
        else:
            assert len(table) == 1


def _line(entry: SyscallEntry, separators: list[str]) -> str:
    first, *rest = entry.columns
    return first + "".join(sep + col for sep, col in zip(separators, rest, strict=False))


class TestRoundTrip:
    """Entries written as table lines read back as the same entries."""

    @given(
        entries=st.lists(table_entries(), unique_by=lambda e: e.number, max_size=20),
        separators=st.lists(st.sampled_from([" ", "\t", "\t\t", " \t "]), min_size=4, max_size=4),
    )
    def test_round_trip(self, entries, separators):
        """Writing shipped entries with any blank separators and reading them back is exact."""
        text = "# generated\n" + "".join(_line(e, separators) + "\n" for e in entries)
        assert parse_table(text).entries == tuple(entries)
