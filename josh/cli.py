"""The `josh` command. Each subcommand lives in its own module, which provides
`add_arguments(parser)` and `main(args) -> int`; modules import their heavy dependencies inside
`main`, so `josh --help` stays fast.

Errors the user can fix (`JoshError`) become one line on stderr and exit code 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from josh import __version__
from josh.errors import JoshError

# name -> (module, one-line help)
COMMANDS = {
    "setup": ("josh.setup", "build the model caches once (Anny, Warp kernels, MediaPipe pose bundle)"),
    "bench": ("josh.bench.cli", "synthetic ground-truth benchmark: serial baseline vs JOSH vs ablations"),
    "run": ("josh.pipeline.cli", "reconstruct a video: cameras, scene and every person in one metric world"),
    "eval": ("josh.eval.cli", "evaluate predictions on EMDB / SLOPER4D / RICH"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="josh", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"josh {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("josh"):
                continue  # a subcommand not built yet
            raise
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s: %(message)s")
    if not hasattr(args, "_main"):
        parser.print_help()
        return 1
    try:
        return int(args._main(args) or 0)
    except JoshError as exc:
        print(f"josh {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"josh {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
