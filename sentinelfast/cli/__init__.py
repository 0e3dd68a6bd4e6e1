"""The ``sentinelfast`` command: operator tools for a Redis Sentinel deployment.

``sentinelfast <subcommand> [--json] ...``; every subcommand exits with

* 0 — all good,
* 1 — a problem was found (it is reported),
* 2 — the command could not run (bad arguments, an unreadable file, nothing reachable).

Subcommands live in modules of this package (``conf``, ``check``, ``drill``); each has
``register(subparsers)``, which adds its parser and sets ``func(args) -> int`` as the parser's
default (``--json`` and ``-v`` are added to its parser). A module that is not there is left
out. ``--json`` (before or after the subcommand) asks for one JSON document on standard output
instead of text.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from typing import List, Optional, Sequence

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_PROBLEM", "EXIT_CANNOT_RUN", "emit", "SUBCOMMAND_MODULES"]

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_CANNOT_RUN = 2

#: The modules asked to register a subcommand, in the order of ``--help``.
SUBCOMMAND_MODULES = ("conf", "check", "drill")


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as JSON under ``--json`` (exit code 2 either way)."""

    json_wanted = False

    def error(self, message: str):  # argparse's own exit code for bad arguments is 2 too
        if self.json_wanted:
            print(json.dumps({"ok": False, "error": message}))
            sys.exit(EXIT_CANNOT_RUN)
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand that could be imported."""
    parser = _Parser(
        prog="sentinelfast",
        description="Operator tools for a Redis Sentinel deployment. Exit codes: 0 all good, "
        "1 a problem found, 2 could not run.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is done (INFO) to standard error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ImportError as e:
            if e.name != f"{__name__}.{name}":
                raise  # the module exists but something it needs is missing: say so
            continue
        module.register(subparsers)
    for sub in subparsers.choices.values():
        _add_common_options(sub)
    return parser


def _add_common_options(sub: argparse.ArgumentParser) -> None:
    """``--json`` and ``-v`` after the subcommand too (unless it defines them itself).
    SUPPRESS keeps a value given before the subcommand."""
    for flags, text in ((("--json",), "print one JSON document instead of text"),
                        (("-v", "--verbose"), "log what is done (INFO) to standard error")):
        if any(flag in sub._option_string_actions for flag in flags):
            continue
        sub.add_argument(*flags, action="store_true", default=argparse.SUPPRESS, help=text)


def emit(args: argparse.Namespace, document: dict, text_lines: Sequence[str]) -> None:
    """Print ``document`` as JSON with ``--json``, else ``text_lines``."""
    if getattr(args, "json", False):
        print(json.dumps(document, indent=2, sort_keys=False))
    else:
        for line in text_lines:
            print(line)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the ``sentinelfast`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    _Parser.json_wanted = "--json" in argv
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code) if isinstance(e.code, int) else EXIT_CANNOT_RUN
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return EXIT_CANNOT_RUN
