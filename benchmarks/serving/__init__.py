"""Serving benchmark: the whole stack against a single-process baseline, on loopback.

    python -m benchmarks.serving [--json] [--plot docs/serving-benchmark.png]
    python -m benchmarks.serving --compare-with cce262f --concurrency 1 32 --servers stack

Servers, all on 127.0.0.1 and measured in the same run:

- **stack, batching on** and **stack, batching off**: the real gateway and worker processes
  started by the launcher (:class:`services.stack.Stack`, default settings apart from
  ``WORKER_BATCHING``) — HTTP/JSON into the gateway, gRPC to the worker;
- **baseline**: one uvicorn process doing the same work in one endpoint
  (:mod:`~benchmarks.serving.baseline`);
- with ``--compare-with REV``, **stack@REV**: the stack of an earlier commit, served the same
  way from a temporary directory (:mod:`~benchmarks.serving.revision`), so that a change
  is measured against the code before it in one run.

Each request is ``POST /api/digits`` with a drawing as the page sends it — a 280x280 opaque
RGBA PNG, base64 in JSON — cycling through ten drawings of MNIST test digits
(:mod:`~benchmarks.serving.drawings`). The load is a closed loop of ``concurrency``
connections (:mod:`~benchmarks.serving.load`); beside latency and throughput, every run
records the CPU time each server process and the load generator used per answer, which
says where the time goes whatever else the machine is doing. The results, the median round
of each cell, become a table, ``--json`` and a plot (:mod:`~benchmarks.serving.report`);
the orchestration is :mod:`~benchmarks.serving.run`.

Closed-loop load obeys Little's law: mean latency = concurrency / throughput. A p99 of
35 ms with 32 requests in flight therefore needs more than 32 / 0.035 ≈ 900 answers per
second. Results and the plot are written up in docs/benchmarks.md ("Serving").
"""
