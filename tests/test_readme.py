"""The README stays true to the code: every setting documented with its real default, the
two set-up commands real."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gateway.core.client_address import NO_TRUSTED_PROXIES
from gateway.edges.settings import OPTIONS, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

# Settings whose default is derived from others: the field is None, the property says.
DERIVED = {
    "store": "store_url",
    "limits": "limits_url",
    "audit": "audit_url",
    "issuer": "issuer_url",
}
# What "none" in the default column stands for, per kind of setting.
NOTHING = (None, NO_TRUSTED_PROXIES)
# Settings to derive from: every placeholder a default names (`<data-dir>`, `<host>`,
# `<port>`) set to a value unlike its own default, through the option's own parser.
SAMPLE_GIVEN = {"data_dir": "/srv/phasegate", "host": "10.1.2.3", "port": "9090"}
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_CODE = re.compile(r"`([^`]*)`")
_PLACEHOLDER = re.compile(r"<([a-z-]+)>")


def _configuration_table() -> dict[str, tuple[str, str]]:
    """Each row of the README's configuration table: flag -> (variable, default column)."""
    section = README.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `--"):
            continue
        flag, variable, default = (cell.strip() for cell in _UNESCAPED_PIPE.split(line)[1:4])
        rows[flag.strip("`")] = (variable.strip("`"), default)
    return rows


def _filled(template: str, settings: Settings) -> str:
    return _PLACEHOLDER.sub(
        lambda found: str(getattr(settings, found[1].replace("-", "_"))), template
    )


def _stated_default_problem(field: str, stated: str) -> str | None:
    """Why the default the README states for `field` is not the real one, or None."""
    real: Any = getattr(load_settings({}, {}), field)
    if stated == "none":
        return None if real in NOTHING else f"README says none, the default is {real!r}"
    if field in DERIVED:
        return _derived_problem(field, stated, real)
    codes = _CODE.findall(stated)
    if len(codes) != 1 or _CODE.sub("", stated).strip():
        return f"the test cannot read the default {stated!r}"
    option = next(option for option in OPTIONS if option.field == field)
    documented = option.parse(codes[0])
    if documented != real:
        return f"README says {stated} ({documented!r}), the default is {real!r}"
    return None


def _derived_problem(field: str, stated: str, real: Any) -> str | None:
    if real is not None:
        return f"README derives it, but the field defaults to {real!r}"
    codes = _CODE.findall(stated)
    rest = _CODE.sub("", stated).strip(" ,")
    if len(codes) != 1 or rest not in ("", "or the store's Redis"):
        return f"the test cannot read the default {stated!r}"
    sample = load_settings(SAMPLE_GIVEN, {})
    derived = getattr(sample, DERIVED[field])
    expected = _filled(codes[0], sample)
    if derived != expected:
        return f"README says {stated} ({expected!r}), the settings derive {derived!r}"
    if rest:
        redis = "redis://cache.internal:6379/0"
        shared = getattr(load_settings({**SAMPLE_GIVEN, "store": redis}, {}), DERIVED[field])
        if shared != redis:
            return f"README says {stated}, but with a Redis store it is {shared!r}"
    return None


def test_every_setting_is_documented_with_its_variable() -> None:
    """Each option has a row in the README's configuration table, with its variable, and
    the table has no row for an option that does not exist."""
    table = _configuration_table()
    assert {flag: variable for flag, (variable, _) in table.items()} == {
        option.flag: option.variable for option in OPTIONS
    }


def test_every_stated_default_is_the_real_one() -> None:
    """Each default the configuration table states, read with the option's own parser
    (durations, sizes, switches, paths), is the settings' default; the placeholders of
    derived defaults (`<data-dir>`, `<host>`, `<port>`) are filled in and compared with
    what the settings derive."""
    table = _configuration_table()
    problems = {
        option.flag: problem
        for option in OPTIONS
        if option.flag in table
        and (problem := _stated_default_problem(option.field, table[option.flag][1]))
    }
    assert problems == {}


def test_set_up_commands_exist() -> None:
    """The README's demo and test commands are Makefile targets that CI runs too."""
    makefile = (ROOT / "Makefile").read_text()
    assert "make demo" in README
    assert "make test" in README
    assert "\ndemo:" in makefile
    assert "\ntest:" in makefile
    assert "test" in (ROOT / ".ci" / "run").read_text()
