"""Flags built from the settings table, and settings read back from parsed flags."""

from __future__ import annotations

import argparse
import os

from gateway.edges.settings import OPTIONS, Settings, load_settings


def add_setting_flags(parser: argparse.ArgumentParser, *, serve: bool) -> None:
    group = parser.add_argument_group("settings (each also as a PHASEGATE_* variable)")
    for option in OPTIONS:
        if serve or option.everywhere:
            group.add_argument(
                option.flag,
                dest=option.field,
                metavar=option.metavar,
                # Absent flags set nothing, so a subcommand's parser never overwrites
                # a value given before its name.
                default=argparse.SUPPRESS,
                help=f"{option.help} [{option.variable}]",
            )


def settings_from(args: argparse.Namespace, base: Settings | None = None) -> Settings:
    given = {option.field: getattr(args, option.field, None) for option in OPTIONS}
    return load_settings(given, os.environ, base)
