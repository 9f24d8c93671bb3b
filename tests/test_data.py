"""The data layer: fetching from a mirror or URLs, verification, repair, derivation, loaders
and the command line — all without network (a fake mirror and a local HTTP server)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import Terminal

from dlcore.data import (
    FetchError,
    MalformedFile,
    Store,
    UnknownDataset,
    load_cats,
    load_mnist,
)
from dlcore.data.formats import read_idx, write_idx
from dlcore.data.store import check_file, default_data_dir, load_manifest, parse_manifest

REPO = Path(__file__).resolve().parents[1]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def idx_raw(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def make_mnist_files(n_train: int, n_test: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test),
    }


def file_entry(data: bytes, raw: bytes | None = None) -> dict:
    entry = {"bytes": len(data), "sha256": sha(data)}
    if raw is not None:
        entry["sha256_uncompressed"] = sha(raw)
    return entry


@pytest.fixture
def fake(tmp_path):
    """A synthetic manifest with a small 'digits' set (IDX) and its 'digits-small' slice,
    a mirror holding 'digits', and an empty cache directory."""
    arrays = make_mnist_files(30, 7)
    small = {name: (a[:12] if name.startswith("train-") else a) for name, a in arrays.items()}
    mirror = tmp_path / "mirror"
    (mirror / "digits").mkdir(parents=True)
    for name, a in arrays.items():
        (mirror / "digits" / name).write_bytes(idx_bytes(a))
    raw = {
        "datasets": {
            "digits": {
                "urls": [],
                "files": {n: file_entry(idx_bytes(a), idx_raw(a)) for n, a in arrays.items()},
            },
            "digits-small": {
                "urls": [],
                "derive": {"from": "digits", "train_count": 12},
                # compressed checksums that a re-compression will NOT reproduce: only the
                # uncompressed checksum can accept a derived file
                "files": {
                    n: {
                        "bytes": 1,
                        "sha256": "0" * 64,
                        "sha256_uncompressed": sha(idx_raw(a)),
                    }
                    for n, a in small.items()
                },
            },
        }
    }
    store = Store(
        data_dir=tmp_path / "cache", manifest=parse_manifest(raw), mirror=mirror, progress=False
    )
    return store, arrays, small


# -- the real manifest -------------------------------------------------------------------


def test_manifest_matches_sources_md():
    """Every file, size and sha256 in SOURCES.md of the offline mirror is in the manifest."""
    sources = REPO.parent / "shared" / "datasets" / "SOURCES.md"
    if not sources.is_file():
        pytest.skip("../shared/datasets/SOURCES.md not beside this checkout")
    manifest = load_manifest()
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in sources.read_text().splitlines()
        if line.startswith("| ") and "/" in line.split("|")[1]
    ]
    assert len(rows) == 10
    for cells in rows:
        dataset, name = cells[0].split("/")
        spec = manifest[dataset].files[name]
        assert spec.bytes == int(cells[1]), cells
        assert spec.sha256 == cells[2], cells
        if len(cells) > 3 and len(cells[3]) == 64:
            assert spec.sha256_uncompressed == cells[3], cells
    assert manifest["mnist-small"].derive == {"from": "mnist", "train_count": 18000}


def test_default_data_dir_is_checkout_datasets(monkeypatch):
    monkeypatch.delenv("DLCORE_DATA_DIR", raising=False)
    assert default_data_dir() == REPO / "datasets"
    monkeypatch.setenv("DLCORE_DATA_DIR", "/somewhere/else")
    assert default_data_dir() == Path("/somewhere/else")


def test_default_data_dir_outside_a_checkout_is_the_user_cache(tmp_path):
    """dlcore installed outside a checkout caches in the platform's user cache directory."""
    shutil.copytree(REPO / "dlcore", tmp_path / "lib" / "dlcore")  # the manifest link resolved
    env = {k: v for k, v in os.environ.items() if k != "DLCORE_DATA_DIR"}
    env.update(PYTHONPATH=str(tmp_path / "lib"), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    code = "import dlcore.data.store as s; print(s.__file__); print(s.default_data_dir())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    module, data_dir = out.stdout.splitlines()
    assert Path(module).is_relative_to(tmp_path / "lib")
    assert Path(data_dir) == tmp_path / "xdg" / "dlcore"


# -- fetching from a mirror, verifying, repairing ----------------------------------------


def test_fetch_from_mirror_then_idempotent(fake):
    store, arrays, _ = fake
    folder = store.fetch("digits")
    assert sorted(p.name for p in folder.iterdir()) == sorted(arrays)
    assert all(s.status == "ok" for s in store.status("digits"))
    # a second fetch with the mirror gone still succeeds: the verified cache is enough
    store.mirror = store.mirror.parent / "gone"
    mtimes = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    store.fetch("digits")
    assert mtimes == {p: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_fetched_and_derived_files_are_readable_by_every_user(fake):
    """A cache filled by root (a course image, a classroom machine) serves the learner too."""
    store, _, _ = fake
    store.fetch("digits-small")  # copied from the mirror, and derived
    files = [*store.path("digits", "x").parent.parent.glob("digits*/*")]
    assert files and all(f.stat().st_mode & 0o777 == 0o644 for f in files), {
        f.name: oct(f.stat().st_mode & 0o777) for f in files
    }


def test_corrupt_cached_file_is_detected_and_repaired(fake):
    store, _, _ = fake
    store.fetch("digits")
    target = store.path("digits", "t10k-labels-idx1-ubyte.gz")
    data = bytearray(target.read_bytes())
    data[10] ^= 0xFF
    target.write_bytes(bytes(data))
    status = {s.name: s for s in store.status("digits")}["t10k-labels-idx1-ubyte.gz"]
    assert status.status == "corrupt"
    assert "expected sha256" in status.detail and "actual" in status.detail
    store.fetch("digits")
    assert all(s.status == "ok" for s in store.status("digits"))


def test_truncated_cached_file_is_never_used(fake):
    store, arrays, _ = fake
    store.fetch("digits")
    target = store.path("digits", "train-images-idx3-ubyte.gz")
    target.write_bytes(target.read_bytes()[:100])
    assert {s.name: s.status for s in store.status("digits")}[target.name] == "corrupt"
    ds = load_mnist("digits", store=store)  # the loader fetches, which repairs first
    np.testing.assert_array_equal(ds.train_x, arrays[target.name])


def test_corrupt_mirror_file_is_refused_and_cache_untouched(fake):
    store, _, _ = fake
    mirrored = store.mirror / "digits" / "t10k-labels-idx1-ubyte.gz"
    mirrored.write_bytes(b"not the labels")
    with pytest.raises(FetchError) as err:
        store.fetch("digits")
    message = str(err.value)
    assert "digits/t10k-labels-idx1-ubyte.gz" in message
    assert "checksum mismatch" in message
    target = store.path("digits", "t10k-labels-idx1-ubyte.gz")
    assert not target.exists()
    # only the three good files: neither the refused one nor a temporary file
    others = sorted(n for n in store.manifest["digits"].files if n != target.name)
    assert sorted(p.name for p in target.parent.iterdir()) == others


def test_recompressed_mirror_copy_is_accepted_by_content(fake):
    """A mirror may hold gzip files compressed by another zlib: same content, other bytes."""
    store, arrays, _ = fake
    name = "train-labels-idx1-ubyte.gz"
    recompressed = gzip.compress(idx_raw(arrays[name]), compresslevel=1, mtime=12345)
    assert sha(recompressed) != store.manifest["digits"].files[name].sha256
    (store.mirror / "digits" / name).write_bytes(recompressed)
    store.fetch("digits")
    assert store.path("digits", name).read_bytes() == recompressed
    assert all(s.status == "ok" for s in store.status("digits"))


def test_offline_without_mirror_names_file_and_urls(fake):
    store, _, _ = fake
    store.mirror = None
    store.manifest["digits"] = store.manifest["digits"].__class__(
        name="digits",
        description="",
        files=store.manifest["digits"].files,
        urls=("http://127.0.0.1:9/{file}",),  # port 9 (discard): connection refused
    )
    with pytest.raises(FetchError) as err:
        store.fetch("digits")
    message = str(err.value)
    assert "could not fetch digits/" in message
    assert "http://127.0.0.1:9/train-images-idx3-ubyte.gz" in message
    assert "DLCORE_DATA_MIRROR" in message


def test_unknown_dataset_lists_known(fake):
    store, _, _ = fake
    with pytest.raises(
        UnknownDataset, match="unknown data set 'dogs'; known data sets: digits, digits-small"
    ):
        store.fetch("dogs")


# -- derivation --------------------------------------------------------------------------


def test_small_set_is_derived_by_slicing_and_verified_uncompressed(fake):
    store, arrays, small = fake
    ds = load_mnist("digits-small", store=store)
    np.testing.assert_array_equal(ds.train_x, small["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(ds.train_y, small["train-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(ds.test_x, arrays["t10k-images-idx3-ubyte.gz"])
    assert ds.train_x.shape == (12, 28, 28) and ds.test_x.shape == (7, 28, 28)
    # the derived file's header carries the new count
    raw = gzip.decompress(store.path("digits-small", "train-labels-idx1-ubyte.gz").read_bytes())
    assert struct.unpack(">I", raw[4:8]) == (12,)


def test_derivation_from_wrong_source_data_is_refused(fake):
    store, _, _ = fake
    # the source set is self-consistent but its first 12 labels are not the ones expected
    labels = store.mirror / "digits" / "train-labels-idx1-ubyte.gz"
    other = np.arange(30) % 10
    labels.write_bytes(idx_bytes(other))
    spec = store.manifest["digits"].files["train-labels-idx1-ubyte.gz"]
    object.__setattr__(spec, "sha256", sha(labels.read_bytes()))
    object.__setattr__(spec, "sha256_uncompressed", None)
    with pytest.raises(FetchError, match="derived from digits: checksum mismatch"):
        store.fetch("digits-small")


# -- downloads from a local HTTP server --------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    drop_after: int | None = None

    def do_GET(self):  # noqa: N802 (http.server's naming)
        name = self.path.rsplit("/", 1)[-1]
        if name not in self.files:
            self.send_error(404)
            return
        data = self.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.drop_after is not None:
            self.wfile.write(data[: self.drop_after])
            self.wfile.flush()
            self.connection.shutdown(2)  # drop the connection mid-file
            return
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    servers = []

    def start(files: dict[str, bytes], drop_after: int | None = None) -> str:
        handler = type("H", (_Handler,), {"files": files, "drop_after": drop_after})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _with_urls(store: Store, dataset: str, urls: list[str]) -> None:
    spec = store.manifest[dataset]
    store.manifest[dataset] = spec.__class__(
        name=spec.name, description="", files=spec.files, urls=tuple(urls), derive=spec.derive
    )


def test_download_verified_and_renamed_into_place(fake, http_server):
    store, arrays, _ = fake
    store.mirror = None
    base = http_server({n: idx_bytes(a) for n, a in arrays.items()})
    _with_urls(store, "digits", [base + "/{file}"])
    store.fetch("digits")
    assert all(s.status == "ok" for s in store.status("digits"))


def test_interrupted_download_falls_back_to_next_url(fake, http_server):
    store, arrays, _ = fake
    store.mirror = None
    files = {n: idx_bytes(a) for n, a in arrays.items()}
    dropping = http_server(files, drop_after=50)
    good = http_server(files)
    _with_urls(store, "digits", [dropping + "/{file}", good + "/{file}"])
    store.fetch("digits")
    assert all(s.status == "ok" for s in store.status("digits"))


def test_interrupted_download_everywhere_leaves_nothing(fake, http_server):
    store, arrays, _ = fake
    store.mirror = None
    dropping = http_server({n: idx_bytes(a) for n, a in arrays.items()}, drop_after=50)
    _with_urls(store, "digits", [dropping + "/{file}"])
    with pytest.raises(FetchError, match="interrupted"):
        store.fetch("digits")
    folder = store.data_dir / "digits"
    assert list(folder.iterdir()) == []  # neither a partial file nor a temporary one


def test_tampered_file_is_downloaded_again(fake, http_server):
    store, arrays, _ = fake
    store.mirror = None
    base = http_server({n: idx_bytes(a) for n, a in arrays.items()})
    _with_urls(store, "digits", [base + "/{file}"])
    store.fetch("digits")
    target = store.path("digits", "train-images-idx3-ubyte.gz")
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    assert {s.name: s.status for s in store.status("digits")}[target.name] == "corrupt"
    store.fetch("digits")
    assert target.read_bytes() == idx_bytes(arrays[target.name])
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(arrays)


def test_wrong_file_from_server_is_never_used(fake, http_server):
    store, arrays, _ = fake
    store.mirror = None
    name = "t10k-labels-idx1-ubyte.gz"
    files = {n: idx_bytes(a) for n, a in arrays.items()}
    files[name] = b"x" * 100
    _with_urls(store, "digits", [http_server(files) + "/{file}"])
    cached = store.path("digits", name)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"an old corrupt copy")
    with pytest.raises(FetchError) as err:
        store.fetch("digits")
    expected = store.manifest["digits"].files[name].sha256
    actual = sha(b"x" * 100)
    assert f"checksum mismatch: expected sha256 {expected}, actual {actual}" in str(err.value)
    assert cached.read_bytes() == b"an old corrupt copy"  # neither replaced nor removed
    assert sorted(p.name for p in cached.parent.iterdir()) == sorted(arrays)  # no temporary


def test_download_must_be_the_published_file(fake, http_server):
    """Unlike a mirror copy, a download is refused when only its gzip content matches:
    the URLs serve the published files, and anything else is not what was pinned."""
    store, arrays, _ = fake
    store.mirror = None
    name = "train-labels-idx1-ubyte.gz"
    files = {n: idx_bytes(a) for n, a in arrays.items()}
    files[name] = gzip.compress(idx_raw(arrays[name]), compresslevel=1, mtime=12345)
    _with_urls(store, "digits", [http_server(files) + "/{file}"])
    with pytest.raises(FetchError, match=f"{name}.*checksum mismatch: expected sha256"):
        store.fetch("digits")
    assert not store.path("digits", name).exists()


@pytest.mark.parametrize(
    "stderr, progress, shown",
    [(Terminal, True, True), (io.StringIO, True, False), (Terminal, False, False)],
    ids=["terminal", "not-a-terminal", "progress-off"],
)
def test_download_progress_bar_only_on_a_terminal(
    fake, http_server, monkeypatch, stderr, progress, shown
):
    store, arrays, _ = fake
    store.mirror, store.progress = None, progress
    base = http_server({n: idx_bytes(a) for n, a in arrays.items()})
    _with_urls(store, "digits", [base + "/{file}"])
    err = stderr()
    monkeypatch.setattr(sys, "stderr", err)
    store.fetch("digits")
    text = err.getvalue()
    if shown:  # a text bar per file, named after it, cleared when done
        for name in arrays:
            assert f"\r{name}:   0%|" in text, text
        assert text.endswith("\r")
    else:
        assert text == ""


# -- file formats ------------------------------------------------------------------------


def test_idx_round_trip(tmp_path):
    a = np.random.default_rng(1).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    write_idx(tmp_path / "x.gz", a)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), a)


@pytest.mark.parametrize(
    "raw, problem",
    [
        (struct.pack(">HBBI", 0, 9, 1, 3) + b"abc", "bad IDX magic number 0x00000901"),
        (struct.pack(">HBBI", 1, 8, 1, 3) + b"abc", "bad IDX magic number 0x00010801"),
        (
            struct.pack(">HBBI", 0, 8, 1, 5) + b"abc",
            "announces shape (5,) = 5 bytes of data, file holds 3",
        ),
        (b"\x00\x00", "too short for an IDX header"),
        (struct.pack(">HBB", 0, 8, 3) + b"\x00\x00", "IDX header truncated"),
    ],
)
def test_malformed_idx_is_named(tmp_path, raw, problem):
    path = tmp_path / "bad-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(MalformedFile) as err:
        read_idx(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_not_gzip_is_malformed(tmp_path):
    path = tmp_path / "plain.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(MalformedFile, match="not a readable gzip/IDX file"):
        read_idx(path)


def _write_cats_h5(path: Path, x_shape=(4, 64, 64, 3), prefix="train", classes=True):
    with h5py.File(path, "w") as f:
        f[f"{prefix}_set_x"] = np.zeros(x_shape, np.uint8)
        f[f"{prefix}_set_y"] = np.zeros(x_shape[0], np.int64)
        if classes:
            f["list_classes"] = np.array([b"non-cat", b"cat"])


def _cats_store(tmp_path, train: Path, test: Path) -> Store:
    mirror = tmp_path / "m"
    (mirror / "cats").mkdir(parents=True)
    files = {}
    for name, src in [("train_catvnoncat.h5", train), ("test_catvnoncat.h5", test)]:
        data = src.read_bytes()
        (mirror / "cats" / name).write_bytes(data)
        files[name] = file_entry(data)
    manifest = parse_manifest({"datasets": {"cats": {"files": files}}})
    return Store(tmp_path / "c", manifest, mirror=mirror, progress=False)


def test_malformed_h5_names_file_and_problem(tmp_path):
    train, test = tmp_path / "train.h5", tmp_path / "test.h5"
    _write_cats_h5(train, x_shape=(4, 32, 32, 3))
    _write_cats_h5(test, x_shape=(2, 64, 64, 3), prefix="test", classes=False)
    with pytest.raises(
        MalformedFile,
        match=r"'train_set_x' has shape \(4, 32, 32, 3\), expected \('m', 64, 64, 3\)",
    ):
        load_cats(store=_cats_store(tmp_path, train, test))


def test_not_hdf5_is_malformed(tmp_path):
    train, test = tmp_path / "train.h5", tmp_path / "test.h5"
    train.write_bytes(b"GIF89a not hdf5")
    _write_cats_h5(test, x_shape=(2, 64, 64, 3), prefix="test", classes=False)
    with pytest.raises(MalformedFile, match="train_catvnoncat.h5: not a readable HDF5 file"):
        load_cats(store=_cats_store(tmp_path, train, test))


def test_check_file_accepts_recompressed_gzip(tmp_path):
    a = np.arange(100, dtype=np.uint8)
    original, raw = idx_bytes(a), idx_raw(a)
    recompressed = gzip.compress(raw, compresslevel=1, mtime=12345)
    assert recompressed != original
    spec = parse_manifest({"datasets": {"d": {"files": {"f.gz": file_entry(original, raw)}}}})[
        "d"
    ].files["f.gz"]
    path = tmp_path / "f.gz"
    path.write_bytes(recompressed)
    assert check_file(path, spec) is None
    path.write_bytes(gzip.compress(raw[:-1]))
    assert "checksum mismatch" in check_file(path, spec)


# -- the real data sets (fetched by `make data` before the tests run) --------------------


def test_real_cats():
    cats = load_cats()
    assert cats.train_x.shape == (209, 64, 64, 3) and cats.train_x.dtype == np.uint8
    assert cats.test_x.shape == (50, 64, 64, 3)
    assert cats.classes == ["non-cat", "cat"]
    assert set(np.unique(cats.train_y)) == {0, 1}
    assert cats.train_y.sum() == 72  # 72 cats among the 209 training images


def test_real_mnist_small():
    mnist = load_mnist("mnist-small")
    assert mnist.train_x.shape == (18000, 28, 28) and mnist.test_x.shape == (10000, 28, 28)
    np.testing.assert_array_equal(
        np.bincount(mnist.train_y), [1783, 2051, 1740, 1883, 1747, 1587, 1771, 1900, 1732, 1806]
    )
    assert mnist.train_y[:5].tolist() == [5, 0, 4, 1, 9]


# -- the command line --------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dlcore.data", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


@pytest.fixture
def cli_env(tmp_path):
    mirror = REPO.parent / "shared" / "datasets"
    if not (mirror / "cats").is_dir():
        pytest.skip("the offline mirror ../shared/datasets is not beside this checkout")
    return {"DLCORE_DATA_DIR": str(tmp_path / "cache"), "DLCORE_DATA_MIRROR": str(mirror)}


def test_cli_fetch_verify_tamper_repair(cli_env, tmp_path):
    fetched = run_cli("fetch", "cats", "mnist-small", env=cli_env)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stderr == ""  # not a terminal: no bar, and no chatter from pooch
    assert "cats: OK" in fetched.stdout and "mnist-small: OK" in fetched.stdout
    verified = run_cli("verify", "cats", "mnist-small", env=cli_env)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.count("OK ") == 6

    target = tmp_path / "cache" / "cats" / "train_catvnoncat.h5"
    data = bytearray(target.read_bytes())
    data[123456] ^= 0x01
    target.write_bytes(bytes(data))
    broken = run_cli("verify", env=cli_env)
    assert broken.returncode == 1
    assert "CORRUPT  cats/train_catvnoncat.h5" in broken.stderr
    expected = load_manifest()["cats"].files["train_catvnoncat.h5"].sha256
    assert f"expected sha256 {expected}, actual {sha(bytes(data))}" in broken.stderr
    assert "Traceback" not in broken.stderr

    repaired = run_cli("fetch", "cats", env=cli_env)
    assert repaired.returncode == 0
    assert run_cli("verify", "cats", env=cli_env).returncode == 0


def test_cli_errors_are_clear(cli_env):
    unknown = run_cli("fetch", "dogs", env=cli_env)
    assert unknown.returncode == 1
    assert (
        unknown.stderr.strip()
        == "error: unknown data set 'dogs'; known data sets: cats, mnist, mnist-small"
    )

    offline = run_cli("fetch", "cats", env={**cli_env, "DLCORE_DATA_MIRROR": "/nonexistent"})
    assert offline.returncode == 1
    assert "could not fetch cats/train_catvnoncat.h5" in offline.stderr
    assert "raw.githubusercontent.com" in offline.stderr
    assert "Traceback" not in offline.stderr


def test_cli_info_shows_status(cli_env):
    run_cli("fetch", "cats", env=cli_env)
    info = run_cli("info", env=cli_env)
    assert info.returncode == 0
    assert f"data directory: {cli_env['DLCORE_DATA_DIR']}" in info.stdout
    assert "2,572,022 B" in info.stdout
    assert "missing" in info.stdout  # mnist was not fetched
