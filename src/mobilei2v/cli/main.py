"""`mobilei2v COMMAND ...`: dispatch to the command modules; bad input is one line and exit code 2."""

from __future__ import annotations

import argparse
import sys

from diffusers.utils import logging as diffusers_logging

from ..compilation import CompileError
from ..runtime import keep_freed_memory
from . import app, convert, data, distill, evaluate, export, generate, init_model, inspect, train

COMMANDS = (generate, app, evaluate, inspect, convert, export, init_model, train, distill, data)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mobilei2v",
        description="MobileI2V: fast image-to-video diffusion. Run `mobilei2v COMMAND --help` for a command's options.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    diffusers_logging.disable_progress_bar()  # diffusers' "Loading pipeline components" bar is noise here
    keep_freed_memory()
    try:
        return args.run(args) or 0
    # The library raises ValueError (and FileExistsError) for input the user can fix.
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        print(f"mobilei2v {args.command}: error: {err}", file=sys.stderr)
        return 2
    except CompileError as err:  # torch.compile's own report is pages long; the cause is chained for the library
        print(f"mobilei2v {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mobilei2v {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
