"""The README stays true to the code: every setting documented, the two set-up commands real."""

from __future__ import annotations

from pathlib import Path

from gateway.edges.settings import OPTIONS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    """Each option and its variable appear in the README's configuration table."""
    missing = [
        option.flag
        for option in OPTIONS
        if f"`{option.flag}`" not in README or f"`{option.variable}`" not in README
    ]
    assert missing == []


def test_set_up_commands_exist() -> None:
    """The README's demo and test commands are Makefile targets that CI runs too."""
    makefile = (ROOT / "Makefile").read_text()
    assert "make demo" in README
    assert "make test" in README
    assert "\ndemo:" in makefile
    assert "\ntest:" in makefile
    assert "test" in (ROOT / ".ci" / "run").read_text()
