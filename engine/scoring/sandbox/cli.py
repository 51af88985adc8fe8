"""The `codetune sandbox FILE --lang python|java|csharp [--timeout S]` command: run one file, print JSON.

Exit status: 0 when the program passed, 1 when it ran but did not pass, 2 for usage errors (argparse).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.scoring.sandbox.batch import SANDBOX_MODES
from engine.scoring.sandbox.model import LANGUAGES, Limits, Program
from engine.scoring.sandbox.runner import MODE_ENV, isolation_available, run_program

_SUFFIXES = {".py": "python", ".java": "java", ".cs": "csharp"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codetune sandbox",
        description="Run one untrusted program in the sandbox and print its outcome as JSON.")
    parser.add_argument("file", nargs="?", help="the program's source file ('-' reads standard input)")
    parser.add_argument("--lang", choices=LANGUAGES,
                        help="its language (default: from the file suffix .py / .java / .cs)")
    parser.add_argument("--timeout", type=float, default=Limits().timeout_s, metavar="S",
                        help="wall-clock limit of the run in seconds (default %(default)s)")
    parser.add_argument("--memory-mb", type=int, default=Limits().memory_mb, metavar="MB",
                        help="memory limit in MiB (default %(default)s)")
    parser.add_argument("--isolation", default="auto",
                        help="auto, or insist on one of bwrap, bwrap-root, unshare, none")
    parser.add_argument("--mode", choices=SANDBOX_MODES,
                        help=f"forkserver (a warm interpreter forks the program) or process (a fresh "
                             f"container and interpreter); default ${MODE_ENV}, else forkserver")
    parser.add_argument("--show-isolation", action="store_true",
                        help="print what isolation this machine allows and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox command with argv (default sys.argv[1:]); returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.show_isolation:
        print(isolation_available())
        return 0
    if not args.file:
        parser.error("a FILE to run is required")
    language = args.lang or _SUFFIXES.get(Path(args.file).suffix)
    if language is None:
        parser.error(f"cannot tell the language of {args.file!r} from its suffix: pass --lang")
    if args.timeout <= 0 or args.memory_mb <= 0:
        parser.error("--timeout and --memory-mb must be positive")
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        parser.error(f"cannot read {args.file}: {exc.strerror or exc}")
    source = raw.decode("utf-8", errors="surrogateescape")
    limits = Limits(timeout_s=args.timeout, memory_mb=args.memory_mb)
    outcome = run_program(Program(source=source, language=language, limits=limits), isolation=args.isolation,
                          mode=args.mode)
    print(json.dumps(outcome.to_dict(), indent=2, ensure_ascii=False))
    return 0 if outcome.passed else 1
