"""`python -m emulator`: the same server as `gke-lab emulator`, without loading the gke-lab command line."""

from __future__ import annotations

import argparse
import sys

from emulator.server import Emulator, serve_until_signalled


def _project(value: str) -> tuple[str, int]:
    pid, sep, number = value.partition("=")
    if not sep or not pid or not number.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r}: expected ID=NUMBER, e.g. gke-detail=415104041262")
    return pid, int(number)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--latency-scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--project", type=_project, action="append", default=[], metavar="ID=NUMBER")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--quota-per-minute", type=int, default=None)
    parser.add_argument(
        "--project-defaults",
        choices=["today", "legacy"],
        default="today",
        help="how a new project starts: today (APIs disabled, no service agents, release channel required) "
        "or legacy (APIs enabled, agents present, no-channel clusters allowed)",
    )
    args = parser.parse_args(argv)
    if args.latency_scale < 0 or not 0.0 <= args.fault_rate <= 1.0:
        parser.error("--latency-scale must be >= 0 and --fault-rate between 0 and 1")
    emu = Emulator(
        host=args.host,
        port=args.port,
        latency_scale=args.latency_scale,
        seed=args.seed,
        projects=dict(args.project),
        fault_rate=args.fault_rate,
        quota_per_minute=args.quota_per_minute,
        new_projects=args.project_defaults,
    )
    try:
        serve_until_signalled(emu)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
