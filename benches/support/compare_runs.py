"""Compares two runs of `cargo bench --bench load` figure by figure.

    python3 benches/support/compare_runs.py FIRST/load.json SECOND/load.json [--limit 15]

Reads the `target/bench/load.json` each run writes (copy the first aside before the
second overwrites it) and prints, for every sentiserve figure both runs have (per
model, dtype and binary: all-miss sentences/s, single-request p50 ms, all-hit
requests/s at each in-flight count, Zipf requests/s) and for the Python baselines
(sentences/s per batch size, batch-1 p50 ms), the two values and the change in
percent, then the sentiserve figures that moved more than --limit percent. Exits 1
when any did, so it can gate a stability check.
"""

import argparse
import json
import sys


def figures(path):
    """{(model, dtype, binary, figure): value} of one load.json."""
    out = {}
    for run in json.load(open(path)):
        if "baselines" in run:
            for row in run["baselines"]:
                where = (run["model"], "f32" if row["system"] != "onnxruntime-int8" else "int8", row["system"])
                out[where + (f"batch {row['batch']} /s",)] = row["sentences_per_s"]
                if row["batch"] == 1:
                    out[where + ("batch 1 p50 ms",)] = row["batch_latency_ms_p50"]
            continue
        where = (run["model"], run["dtype"], run["binary"])
        out[where + ("all-miss /s",)] = run["all_miss_per_s"]
        out[where + ("single p50 ms",)] = run["single_p50_ms"]
        out[where + ("zipf /s",)] = run["zipf_per_s"]
        for hit in run["all_hit"]:
            out[where + (f"all-hit {hit['in_flight']} in flight /s",)] = hit["per_s"]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--limit", type=float, default=15.0, help="percent (default 15)")
    args = parser.parse_args()
    first, second = figures(args.first), figures(args.second)
    moved = []
    print(f"{'model':50} {'dtype':5} {'figure':24} {'first':>10} {'second':>10} {'change':>8}")
    for key in first:
        if key not in second or first[key] == 0:
            continue
        change = (second[key] - first[key]) / first[key] * 100
        model, dtype, binary, figure = key
        ours = binary in ("this build", "baseline")
        label = model if binary == "this build" else f"{model} ({binary})"
        print(f"{label:50} {dtype:5} {figure:24} {first[key]:10.2f} {second[key]:10.2f} {change:+7.1f}%")
        if ours and abs(change) > args.limit:
            moved.append(f"{label} {dtype} {figure}: {change:+.1f}%")
    print(f"sentiserve figures that moved more than {args.limit:g}%: {len(moved)}" + "".join(f"\n  {m}" for m in moved))
    sys.exit(1 if moved else 0)


if __name__ == "__main__":
    main()
