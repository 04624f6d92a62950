"""Run the benchmarks and write bench/results.json: `python -m bench [--quick]`."""

import argparse
import json
import sys

from bench.common import ROOT, scratch_dir, setup_django


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few repetitions: keeps it working")
    parser.add_argument("--only", action="append", help="run only these sections")
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL database to use instead of a scratch SQLite file; its name must start "
        "with vccregistry_bench (it is dropped and created afresh)",
    )
    args = parser.parse_args()

    workdir = scratch_dir()
    setup_django(workdir, database_url=args.database_url)
    from payments.services.demo import demo_seed

    demo_seed(emulator_url="http://127.0.0.1:1", password="bench-password-0123")

    from bench import admin_scale, concurrency, launch

    sections = {
        "launch": launch.run,
        "concurrency": concurrency.run,
        "admin_scale": admin_scale.run,
    }
    results: dict = {"quick": args.quick}
    for name, run in sections.items():
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        figures = run(quick=args.quick)
        for key, value in figures.items():
            print(f"   {key:<45} {value}")
        results.update(figures)
    output = ROOT / "bench" / "results.json"
    output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"Wrote {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
