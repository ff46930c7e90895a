"""The worker process: Dramatiq's command line with shopsync's logging set up first.

`python -m sync.worker sync.tasks webhooks.tasks --processes 2 ...` takes dramatiq's
arguments. Plain `dramatiq` formats its main process's own lines (booting, signals, a worker
process that died) with its basicConfig; this way they come out in SHOPSYNC_LOG_FORMAT too.
The worker processes it forks set logging up again when they build the broker.
"""

from __future__ import annotations

import sys

from dramatiq import cli

from config_db.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    """Run Dramatiq's CLI with `argv` (default: this command's arguments)."""
    arguments = sys.argv[1:] if argv is None else argv
    configure_logging()
    args = cli.make_argument_parser().parse_args(arguments)
    args.skip_logging = True  # no logging.basicConfig in any of its processes: ours stands
    # On SIGHUP (reload) Dramatiq execs sys.argv again: make that this same command.
    sys.argv = [sys.executable, "-m", "sync.worker", *arguments]
    code: int = cli.main(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
