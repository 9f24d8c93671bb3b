"""The benchmark's results: the median round of each cell, a Markdown table, the plot.

Every result row (and the ``--json`` output's ``results``) has ``model``, ``concurrency``,
``server`` ("baseline", or a name starting with "stack"), ``throughput`` (answers/s),
``p50``/``p90``/``p99`` (ms), ``errors`` and ``cpu_ms_per_answer`` ({process: ms}, the
servers' processes and the load generator), plus ``rounds``, ``answers`` and the
throughput ratios ``vs_baseline`` and ``vs_earlier`` (to the earlier commit's stack of
``--compare-with``) where those servers ran.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from benchmarks.serving.load import LOAD_GENERATOR, Run

BASELINE = "baseline"


def summarise(runs: list[Run], earlier: str | None = None) -> list[dict]:
    """Each (model, concurrency, server) cell: the median of its rounds; rows in the order
    the servers first appear in ``runs``. ``earlier`` names the earlier commit's server."""
    cells: dict[tuple, list[Run]] = {}
    for run in runs:
        cells.setdefault((run.model, run.concurrency, run.server), []).append(run)
    order = {server: i for i, server in enumerate(dict.fromkeys(r.server for r in runs))}
    rows = []
    for (model, concurrency, server), rounds in cells.items():
        rows.append({
            "model": model,
            "concurrency": concurrency,
            "server": server,
            "rounds": len(rounds),
            "answers": sum(r.answers for r in rounds),
            "errors": sum(r.errors for r in rounds),
            "throughput": statistics.median(r.throughput for r in rounds),
            **{f"p{q}": statistics.median(r.percentile(q) for r in rounds) for q in (50, 90, 99)},
            "cpu_ms_per_answer": {
                process: statistics.median(r.cpu_ms[process] for r in rounds)
                for process in rounds[0].cpu_ms
            },
        })
    rows.sort(key=lambda r: (r["model"], r["concurrency"], order[r["server"]]))
    for key, reference in (("vs_baseline", BASELINE), ("vs_earlier", earlier)):
        throughput = {(r["model"], r["concurrency"]): r["throughput"] for r in rows
                      if r["server"] == reference}
        for row in rows:
            base = throughput.get((row["model"], row["concurrency"]))
            row[key] = row["throughput"] / base if base else None
    return rows


def server_cpu(row: dict) -> float:
    """CPU ms per answer of the server processes (the load generator left out)."""
    return sum(ms for process, ms in row["cpu_ms_per_answer"].items()
               if process != LOAD_GENERATOR)


def markdown(rows: list[dict]) -> str:
    """The results as a Markdown table (ratios only where their reference ran)."""
    earlier = any(r.get("vs_earlier") is not None for r in rows)
    baseline = any(r.get("vs_baseline") is not None for r in rows)
    head = ["model", "concurrency", "server", "answers/s"]
    head += ["× baseline"] * baseline + ["× earlier"] * earlier
    head += ["p50 ms", "p90 ms", "p99 ms", "server CPU ms/answer", "load gen. ms", "errors"]
    align = ["---", "---:", "---", "---:"] + ["---:"] * (baseline + earlier)
    align += ["---:", "---:", "---:", "---", "---:", "---:"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    ratio = lambda x: f"{x:.2f}" if x is not None else "–"  # noqa: E731
    for r in rows:
        parts = [ms for p, ms in r["cpu_ms_per_answer"].items() if p != LOAD_GENERATOR]
        cpu = " + ".join(f"{ms:.2f}" for ms in parts)
        if len(parts) > 1:
            cpu += f" = {server_cpu(r):.2f}"
        cells = [f"digits-{r['model']}", str(r["concurrency"]), r["server"],
                 f"{r['throughput']:.0f}"]
        cells += [ratio(r.get("vs_baseline"))] * baseline + [ratio(r.get("vs_earlier"))] * earlier
        cells += [f"{r['p50']:.1f}", f"{r['p90']:.1f}", f"{r['p99']:.1f}", cpu,
                  f"{r['cpu_ms_per_answer'].get(LOAD_GENERATOR, float('nan')):.2f}",
                  str(r["errors"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Per model: throughput, latency and CPU per answer against concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows})
    servers = list(dict.fromkeys(r["server"] for r in rows))
    colours = {s: f"C{i}" for i, s in enumerate(servers)}
    width = 0.8 / len(servers)
    fig, axes = plt.subplots(len(models), 3, figsize=(16, 4.3 * len(models)), squeeze=False)
    for (ax_tp, ax_lat, ax_cpu), model in zip(axes, models, strict=True):
        levels = sorted({r["concurrency"] for r in rows if r["model"] == model})
        for k, server in enumerate(servers):
            colour = colours[server]
            cells = {r["concurrency"]: r for r in rows
                     if r["model"] == model and r["server"] == server}
            if not cells:
                continue
            c = sorted(cells)
            ax_tp.plot(c, [cells[n]["throughput"] for n in c], "o-", color=colour, label=server)
            ax_lat.plot(c, [cells[n]["p50"] for n in c], "o-", color=colour,
                        label=f"{server} p50")
            ax_lat.plot(c, [cells[n]["p99"] for n in c], "s--", color=colour,
                        label=f"{server} p99")
            # CPU per answer: bars side by side, one stack of processes per server
            x = np.arange(len(levels)) + (k - (len(servers) - 1) / 2) * width
            bottom = np.zeros(len(levels))
            for part in cells[c[0]]["cpu_ms_per_answer"]:
                heights = np.array([cells[n]["cpu_ms_per_answer"][part] if n in cells else 0
                                    for n in levels])
                generator = part == LOAD_GENERATOR
                ax_cpu.bar(x, heights, width * 0.95, bottom=bottom,
                           color="lightgrey" if generator else colour,
                           hatch="//" if part == "gateway" else None, edgecolor="white",
                           label="load generator" if generator and k == 0
                           else None if generator else f"{server}: {part}")
                bottom += heights
        ax_lat.axhline(35, color="grey", linewidth=0.8, linestyle=":")
        ax_lat.annotate("35 ms", (levels[0], 35), textcoords="offset points", xytext=(2, 3),
                        color="grey", fontsize=8)
        for ax in (ax_tp, ax_lat):
            ax.set_xscale("log", base=2)
            ax.set_xticks(levels)
            ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
            ax.set_xlabel("concurrency (requests in flight)")
            ax.grid(True, alpha=0.3)
        ax_tp.set_ylim(bottom=0)
        ax_tp.set_ylabel("throughput (answers/s)")
        ax_tp.set_title(f"digits-{model}: throughput")
        ax_lat.set_yscale("log")
        ax_lat.set_ylabel("latency (ms, log scale)")
        ax_lat.set_title(f"digits-{model}: latency p50 (solid), p99 (dashed)")
        ax_cpu.set_ylim(0, 1.45 * ax_cpu.get_ylim()[1])  # room for the legend
        ax_cpu.set_xticks(np.arange(len(levels)), [str(n) for n in levels])
        ax_cpu.set_xlabel("concurrency (requests in flight)")
        ax_cpu.set_ylabel("CPU time per answer (ms)")
        ax_cpu.set_title(f"digits-{model}: CPU per answer (gateway hatched, generator grey)",
                         fontsize=10)
        ax_cpu.grid(True, axis="y", alpha=0.3)
        ax_tp.legend(fontsize=8)
        ax_lat.legend(fontsize=7, ncol=2)
        ax_cpu.legend(fontsize=7, ncol=2)
    fig.suptitle("POST /api/digits on loopback: the stack against a single-process baseline")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
