"""Run the benchmarks: ``python -m bench [NAME ...]`` (``make bench``, ``make bench B=b1``).

Each benchmark runs in a process of its own (``python -m bench.<module>``), measures
its subject and its baseline in the same run and writes ``bench/results/<module>.json``;
a NAME selects the benchmarks whose module name starts with it (``b1``, ``b5_memory``).
Afterwards the README's table of results is brought up to date from the JSON files
(``python -m bench table`` does only that).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench.harness import RESULTS, ROOT, say

# In the order `make bench` runs them; modules not (yet) present are skipped.
BENCHMARKS = (
    "b1_ingest",
    "b2_rebuild",
    "b3_queries",
    "b4_freshness",
    "b5_memory",
    "b6_signatures",
    "b7_log",
)
README = ROOT / "README.md"
BEGIN = "<!-- bench:table:begin (python -m bench table) -->"
END = "<!-- bench:table:end -->"


def available() -> list[str]:
    return [name for name in BENCHMARKS if (ROOT / "bench" / f"{name}.py").exists()]


def selected(names: list[str]) -> list[str]:
    known = available()
    if not names:
        return known
    chosen = [b for b in known if any(b.startswith(n.lower()) for n in names)]
    if not chosen:
        msg = f"no benchmark matches {' '.join(names)}; known: {', '.join(known)}"
        raise SystemExit(msg)
    return chosen


def row(*cells: str, met: Any) -> dict[str, Any]:
    benchmark, figure, baseline, ratio, target = cells
    return {
        "benchmark": benchmark,
        "figure": figure,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "met": met if isinstance(met, bool) else None,
    }


def rows_of(name: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The table rows of a result: its ``summary`` rows (``harness.Result``), or read
    from the shape B3 and B4 write."""
    summary = result.get("summary")
    if isinstance(summary, list) and all(isinstance(r, dict) for r in summary):
        return summary
    if isinstance(summary, dict):  # B3: one entry per query
        rate = f"{result.get('settings', {}).get('rps', 2000):,}/s"
        return [
            row(
                f"B3 {query.replace('_', ' ')}",
                f"{q.get('max_rps', 0):,.0f} req/s max;"
                f" at {rate} p50 {q.get('p50_ms_at_rate')} ms, p99 {q.get('p99_ms_at_rate')} ms",
                f"trivial grpc.aio server {q.get('trivial_max_rps', 0):,.0f} req/s"
                + (
                    f", p99 {q['trivial_p99_ms_at_rate']} ms at {rate}"
                    if "trivial_p99_ms_at_rate" in q
                    else ""
                ),
                f"{q.get('ratio', 0):.0%}",
                f"≥ 70% of trivial, p99 ≤ 5 ms at {rate}",
                met=q.get("meets_target"),
            )
            for query, q in summary.items()
            if isinstance(q, dict)
        ]
    if "publish_to_query" in result:  # B4
        publish, stored = result["publish_to_query"], result.get("store_to_query", {})
        return [
            row(
                "B4 freshness",
                f"publish → visible p50 {publish.get('p50_ms')} ms,"
                f" p99 {publish.get('p99_ms')} ms"
                f" (stored → visible p99 {stored.get('p99_ms')} ms)",
                f"under {result.get('background_events_per_s', 0):,.0f} events/s of load",
                "-",
                f"p99 ≤ {result.get('target_p99_ms', 300):g} ms",
                met=result.get("meets_target"),
            )
        ]
    met = result.get("meets_target", result.get("met"))
    return [
        {
            "benchmark": result.get("title", name),
            "figure": f"see bench/results/{name}.json",
            "baseline": "",
            "ratio": "",
            "target": "",
            "met": met if isinstance(met, bool) else None,
        }
    ]


def table() -> str:
    lines = [
        "| benchmark | figure | baseline (same run) | ratio | target | met? | when, load |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        load = result.get("machine", {}).get("load_average", [])
        when = f"{str(result.get('at', ''))[:10]}, {load[0] if load else '?'}"
        for row in rows_of(path.stem, result):
            met = {True: "yes", False: "**no**", None: "-"}[row.get("met")]
            cells = [row["benchmark"], row["figure"], row["baseline"], row["ratio"], row["target"]]
            lines.append("| " + " | ".join(str(c) for c in cells) + f" | {met} | {when} |")
    return "\n".join(lines)


def update_readme() -> None:
    text = README.read_text()
    if BEGIN not in text or END not in text:
        say("README.md has no benchmark table markers; not updated")
        return
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{BEGIN}\n{table()}\n{END}{tail}")
    say("README.md: benchmark table updated from bench/results/")


def main(argv: list[str]) -> int:
    if argv[:1] == ["table"]:
        update_readme()
        return 0
    failed = []
    for name in selected(argv):
        say(f"=== {name}")
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=ROOT, check=False)  # noqa: S603
        say(f"=== {name}: exit {done.returncode} after {time.monotonic() - start:.0f} s")
        if done.returncode != 0:
            failed.append(name)
    update_readme()
    if failed:
        say(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
