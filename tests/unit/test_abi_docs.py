"""Unit tests for docs/abi.md: its examples run and say what they print."""

import doctest
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "abi.md"


class TestAbiDoc:
    """docs/abi.md's examples are executed, so the page cannot drift from the code."""

    def test_interactive_examples(self):
        """Every `>>>` example in docs/abi.md prints what the page says."""
        # A fence line would read as expected output; blank it so each example ends there.
        text = re.sub(r"^```\w*$", "", DOC.read_text(), flags=re.MULTILINE)
        parser = doctest.DocTestParser()
        test = parser.get_doctest(text, {}, "abi.md", str(DOC), 0)
        assert test.examples
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test)
        assert runner.summarize(verbose=False).failed == 0

    def test_example_test_passes(self):
        """The example property test in docs/abi.md runs and passes."""
        text = DOC.read_text()
        match = re.search(r"<!-- example-test -->\n```python\n(.*?)```", text, re.DOTALL)
        assert match is not None
        namespace: dict = {}
        exec(compile(match.group(1), "abi.md example", "exec"), namespace)
        tests = [v for k, v in namespace.items() if k.startswith("test_")]
        assert len(tests) == 2
        for test in tests:
            test()
