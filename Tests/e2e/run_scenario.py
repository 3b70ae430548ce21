"""Runs one end-to-end scenario against a live server; used by the Swift test suite:

    python run_scenario.py SCENARIO --url URL [--server-bin PATH --tmp DIR]

Exits 0 when every expectation held, 1 with the failed expectation otherwise."""

import argparse
import sys
import traceback

import cluster_scenarios  # noqa: F401  (registers its scenarios)
import dm_scenarios  # noqa: F401
import group_scenarios  # noqa: F401
from harness import SCENARIOS, Context, Failure


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--url")
    parser.add_argument("--server-bin")
    parser.add_argument("--tmp")
    args = parser.parse_args()
    ctx = Context(args.url, args.server_bin, args.tmp)
    try:
        SCENARIOS[args.scenario](ctx)
    except Failure as failure:
        print(f"FAILED {args.scenario}: {failure}", file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        print(f"FAILED {args.scenario}: unexpected error", file=sys.stderr)
        return 1
    finally:
        ctx.close()
    print(f"ok {args.scenario}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
