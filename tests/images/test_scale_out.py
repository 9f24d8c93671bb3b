"""Scale-out on one machine: does a worker pod the HPA adds get traffic, and does one
that goes away cost a request?

The cluster's path, reproduced (``benchmarks/scale_out.py``): the gateway from its image with the
ConfigMap's ``dns:///worker-headless:50051`` and round_robin, worker replicas from their
image with k8s/base's connection-age settings, and ``worker-headless`` resolving through
the namespace's hosts file to every ready replica. Load runs through the gateway
throughout. Behaviour, not timing: a bound only keeps a broken set-up from hanging
(benchmarks/scale_out.py measures how long a new pod waits).
"""

from __future__ import annotations

import sys
import time

import pytest
from image_helpers import REPO, pods

sys.path.insert(0, str(REPO))
from benchmarks.scale_out import Load, ScaledWorkers  # noqa: E402

pytestmark = pytest.mark.slow

#: Far beyond what a new replica should wait with k8s/base's settings; only a bound.
SERVING_BOUND = 180.0


@pytest.fixture(scope="module")
def scaled(builder, objects, image_ids):
    if pods.DNSMASQ is None:
        pytest.skip("dnsmasq is not installed (the cluster DNS stand-in that answers with "
                    "every replica): apt-get install -y dnsmasq-base, or make sysdeps")
    with pods.Cluster() as cluster:
        try:
            yield ScaledWorkers(cluster, objects, image_ids, builder).start(workers=2)
        except pods.PodError as error:
            pytest.fail(str(error))


def test_both_replicas_share_the_load(scaled):
    before = [scaled.served(w) for w in scaled.workers]
    with Load(scaled.gateway_socket()) as load:
        time.sleep(10)
    after = [scaled.served(w) for w in scaled.workers]
    shares = [a - b for a, b in zip(after, before, strict=True)]
    assert all(share > 0 for share in shares), shares
    assert set(load.since(0)) == {(200, "")}, load.since(0)


def test_a_replica_added_gets_traffic_and_one_removed_costs_no_request(scaled):
    with Load(scaled.gateway_socket()) as load:
        new, ready = scaled.add_worker()  # 2 -> 3
        serving = scaled.wait_serving(new, SERVING_BOUND)
        assert serving is not None, (
            f"the new replica served nothing {SERVING_BOUND:g} s after it was ready; "
            f"gateway log:\n{scaled.gateway.logs()[-2000:]}")
        print(f"\nnew replica ready -> serving: {serving - ready:.1f} s")
        time.sleep(2)

        removing = time.monotonic()  # 3 -> 2, gracefully
        code = scaled.remove_worker(new)
        time.sleep(5)
        assert code == 0, new.logs()[-2000:]
        outcomes = load.since(removing)
    assert set(outcomes) == {(200, "")}, outcomes
    assert set(load.since(0)) == {(200, "")}, load.since(0)


def test_a_replica_killed_costs_only_deadline_bound_errors(scaled):
    with Load(scaled.gateway_socket()) as load:
        time.sleep(2)
        killed = time.monotonic()
        victim = scaled.workers[-1]
        scaled.remove_worker(victim, kill=True)
        time.sleep(10)
        survivor = scaled.workers[0]
        before = scaled.served(survivor)
        time.sleep(3)
        assert scaled.served(survivor) > before  # the other replica carries on
    allowed = {(200, ""), (503, "worker_unavailable"), (504, "worker_timeout")}
    outcomes = load.since(killed)
    assert set(outcomes) <= allowed, outcomes
    assert outcomes[(200, "")] > 0
    late = load.since(killed + 5)  # the dead address is dropped: all answered again
    assert set(late) == {(200, "")}, late
