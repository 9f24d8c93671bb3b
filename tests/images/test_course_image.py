"""The course image: JupyterLab for a learner, as JupyterHub (or `docker run`) starts it.

The image runs as its own non-root user (UID 10001) with a read-only root file system,
an emptyDir ``/tmp`` and one writable volume, the home directory (JupyterHub's per-user
storage). JupyterLab listens on loopback inside the private network namespace; this
process reaches it through a forwarded socket. ``/api/status`` answers, a kernel starts,
and notebook 1 executes inside the pod from the copy in the learner's home, with the data
sets and models baked into the image; the exercise edition sits beside it.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from image_helpers import ARTIFACTS, REPO, pods

pytestmark = pytest.mark.slow

TOKEN = secrets.token_hex(16)
PORT = 8888
HOME = "/home/learner"
NOTEBOOK = "01-logistic-regression.ipynb"


@pytest.fixture(scope="module")
def course(builder, image_ids):
    image = image_ids[next(t for t in image_ids if t.startswith("simpledl/course:"))]
    config = builder.inspect(image)
    home = Path(tempfile.mkdtemp(prefix="simpledl-course-home-"))
    uid, gid = (int(x) for x in config["User"].split(":"))
    shutil.chown(home, uid, gid)
    spec = pods.PodSpec.from_image(
        "course", config,
        args=[*config["Cmd"][:2], "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={PORT}",
              "--no-browser", f"--IdentityProvider.token={TOKEN}",
              f"--ServerApp.root_dir={HOME}"],
    )
    with pods.Cluster() as cluster:
        rootfs = cluster.stack.enter_context(builder.rootfs(image))
        pod = cluster.start_pod(spec, rootfs,
                                volumes=[{"target": HOME, "type": "bind", "source": str(home)}])
        socket_path = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if pod.process.poll() is not None:
                pytest.fail(f"JupyterLab exited ({pod.process.returncode}):\n{pod.logs()[-4000:]}")
            try:
                socket_path = cluster.forward("127.0.0.1", PORT)
                status, _ = pods.http_get(socket_path, f"/api/status?token={TOKEN}")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not answer /api/status in 120 s:\n{pod.logs()[-4000:]}")
        transport = httpx.HTTPTransport(uds=str(socket_path))
        with httpx.Client(transport=transport, base_url=f"http://127.0.0.1:{PORT}",
                          headers={"Authorization": f"token {TOKEN}"}, timeout=60) as client:
            yield pod, client, home, config
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "course-pod.log").write_text(pod.logs())
        code = pod.stop()
        assert code == 0, f"JupyterLab exited {code} on SIGTERM:\n{pod.logs()[-3000:]}"
    shutil.rmtree(home, ignore_errors=True)


def test_jupyterlab_answers_as_a_non_root_user_on_a_read_only_root(course):
    pod, client, home, config = course
    status = client.get("/api/status")
    assert status.status_code == 200 and "started" in status.json()
    assert config["User"] == "10001:10001"
    uid = Path(f"/proc/{pod.process.pid}/status").read_text().split("Uid:\t")[1].split()[0]
    assert uid == "10001"
    refused = pod.exec(["sh", "-c", "touch /opt/course/notebooks/x"])
    assert "Read-only file system" in refused.stderr, refused
    assert pod.exec(["sh", "-c", "touch ~/x && rm ~/x"]).returncode == 0


def test_the_learners_home_gets_both_editions_and_the_models(course):
    pod, client, home, _ = course
    for edition in ("notebooks", "exercises"):
        expected = sorted(p.name for p in Path(pod.root, "opt/course", edition).iterdir())
        assert expected and sorted(p.name for p in (home / edition).iterdir()) == expected
        listed = client.get(f"/api/contents/{edition}").json()["content"]
        assert sorted(item["name"] for item in listed) == expected
    solved = sorted(p.name for p in (REPO / "notebooks").iterdir() if not p.name.startswith("."))
    assert sorted(p.name for p in (home / "notebooks").iterdir()) == solved
    assert (home / "models").is_symlink()
    assert Path((home / "models").readlink()) == Path("/opt/course/models")


def kernel_processes(kernel_id: str) -> list[tuple[int, str]]:
    """(pid, uid) of the processes whose command line names this kernel's connection file."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and kernel_id in (proc / "cmdline").read_text():
                uid = (proc / "status").read_text().split("Uid:\t")[1].split()[0]
                found.append((int(proc.name), uid))
        except OSError:
            continue
    return found


def test_the_server_starts_a_kernel_as_the_learner_and_stops_it(course):
    _, client, home, _ = course
    kernel = client.post("/api/kernels", json={"name": "python3"})
    assert kernel.status_code == 201, kernel.text
    kernel_id = kernel.json()["id"]
    try:
        runtime = home / ".local" / "share" / "jupyter" / "runtime"
        deadline = time.monotonic() + 60
        while not kernel_processes(kernel_id) and time.monotonic() < deadline:
            time.sleep(0.5)
        running = kernel_processes(kernel_id)
        assert running and all(uid == "10001" for _, uid in running), running
        assert list(runtime.glob(f"kernel-{kernel_id}.json")), sorted(runtime.iterdir())
    finally:
        assert client.delete(f"/api/kernels/{kernel_id}").status_code == 204
    deadline = time.monotonic() + 30
    while kernel_processes(kernel_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not kernel_processes(kernel_id)


def test_a_notebook_executes_inside_the_image(course):
    pod, _, home, _ = course
    result = pod.exec(
        ["jupyter", "nbconvert", "--to", "notebook", "--execute",
         "--ExecutePreprocessor.timeout=600", "--output-dir", f"{HOME}/executed",
         f"notebooks/{NOTEBOOK}"],
        env={"OPENBLAS_NUM_THREADS": "1"}, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    executed = json.loads((home / "executed" / NOTEBOOK).read_text())
    stored = json.loads((REPO / "notebooks" / NOTEBOOK).read_text())
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    assert code and all(c["execution_count"] for c in code)
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, errors
    assert len(code) == len([c for c in stored["cells"] if c["cell_type"] == "code"])


def test_the_image_carries_jupyterhubs_singleuser_server(course):
    pod, _, _, _ = course
    result = pod.exec(["jupyterhub-singleuser", "--version"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split(".")[0].isdigit(), result.stdout
