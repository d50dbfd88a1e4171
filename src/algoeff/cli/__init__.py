"""The ``algoeff`` command line: thin, it parses, calls the library and prints.

Each command lives in its own module here with a ``register(subparsers)``
function that adds its parser and sets ``func``; ``func(args)`` returns the
exit status. Every error is one line on stderr, ``<ErrorClass>: <message>``:
library errors (AlgoeffError) and OS errors (a missing or unwritable path,
named) exit 1, usage errors (``UsageError: algoeff CMD: ...``) exit 2. No
traceback reaches a user; ALGOEFF_TRACEBACK=1 shows one for an unexpected error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from algoeff import __version__
from algoeff.errors import AlgoeffError

__all__ = ["main", "build_parser"]

# Modules under algoeff.cli that register commands, in the order help lists them.
COMMANDS = ["ledger", "trend", "study", "report", "estimate", "flops"]


class Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error (its default prints the whole usage)."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        self.exit(2, f"UsageError: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="algoeff",
        description="Measure, track and forecast the algorithmic efficiency of neural-network training.",
    )
    parser.add_argument("--version", action="version", version=f"algoeff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        module = f"algoeff.cli.{name}"
        try:
            importlib.import_module(module).register(sub)
        except ModuleNotFoundError as err:
            # Only a command module that is absent is skipped (tests/test_package.py
            # checks that every listed one exists); a missing dependency inside it is not.
            if err.name != module:
                raise
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except BrokenPipeError:
        # The reader went away (`algoeff ledger show | head`): stop quietly, and point
        # stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except AlgoeffError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a path that is missing, unreadable or unwritable
        where = f"{err.filename}: " if err.filename else ""
        print(f"{type(err).__name__}: {where}{err.strerror or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("KeyboardInterrupt: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug, not bad input: still one line, with the way to see more
        if os.environ.get("ALGOEFF_TRACEBACK"):
            raise
        text = (str(err).strip().splitlines() or [""])[0]
        print(f"{type(err).__name__}: {text} (unexpected: please report it; ALGOEFF_TRACEBACK=1 shows where)",
              file=sys.stderr)
        return 1
    return 0 if status is None else int(status)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
