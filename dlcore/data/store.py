"""Where data files come from and how they are checked: the manifest, the cache, fetching.

A data set is a few files listed in ``datasets/manifest.json`` with their size and sha256.
``fetch`` makes every file of a data set present and verified in the cache directory,
taking it from (in order) the cache itself, a mirror directory laid out as
``<dataset>/<file>``, the data set's URLs, or — for a data set declared as a slice of
another (``mnist-small``) — by deriving it. Nothing unverified is ever renamed into the
cache: files are written to a temporary name first.

Settings (read here only):

- ``DLCORE_DATA_DIR``: the cache directory. Default: ``datasets/`` of this checkout when
  dlcore runs from one, otherwise ``$XDG_CACHE_HOME/dlcore`` (``~/.cache/dlcore``).
- ``DLCORE_DATA_MIRROR``: a directory laid out as ``<dataset>/<file>`` to take files from
  instead of the network (air-gapped machines, CI).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from tqdm.auto import tqdm

from dlcore.data.errors import ChecksumMismatch, DataError, FetchError, UnknownDataset

log = logging.getLogger(__name__)

CHUNK = 1 << 20
DOWNLOAD_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class FileSpec:
    """One file of a data set as the manifest describes it."""

    name: str
    bytes: int
    sha256: str
    sha256_uncompressed: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """One data set: its files, where to download them, or how to derive it."""

    name: str
    description: str
    files: dict[str, FileSpec]
    urls: tuple[str, ...] = ()
    derive: dict | None = None


@dataclass(frozen=True)
class FileStatus:
    """What ``verify`` found for one cached file: ``ok``, ``missing`` or ``corrupt``."""

    dataset: str
    name: str
    path: Path
    status: str
    detail: str = ""
    size: int | None = None


def parse_manifest(raw: dict) -> dict[str, DatasetSpec]:
    """Turn the manifest's JSON into ``DatasetSpec`` objects."""
    specs = {}
    for name, entry in raw["datasets"].items():
        files = {
            fname: FileSpec(fname, f["bytes"], f["sha256"], f.get("sha256_uncompressed"))
            for fname, f in entry["files"].items()
        }
        specs[name] = DatasetSpec(
            name=name,
            description=entry.get("description", ""),
            files=files,
            urls=tuple(entry.get("urls", ())),
            derive=entry.get("derive"),
        )
    return specs


def load_manifest() -> dict[str, DatasetSpec]:
    """Read the manifest shipped with dlcore (``datasets/manifest.json`` in a checkout)."""
    text = resources.files("dlcore.data").joinpath("manifest.json").read_text()
    return parse_manifest(json.loads(text))


def _checkout_root() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "datasets" / "manifest.json").is_file():
        return root
    return None


def default_data_dir() -> Path:
    """The cache directory: ``DLCORE_DATA_DIR``, else ``datasets/`` of the checkout, else
    the user cache directory."""
    if os.environ.get("DLCORE_DATA_DIR"):
        return Path(os.environ["DLCORE_DATA_DIR"]).expanduser()
    root = _checkout_root()
    if root is not None:
        return root / "datasets"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "dlcore"


def default_mirror() -> Path | None:
    """The mirror directory from ``DLCORE_DATA_MIRROR``, or None."""
    value = os.environ.get("DLCORE_DATA_MIRROR")
    return Path(value).expanduser() if value else None


def sha256_of(path: Path, *, gunzip: bool = False) -> str:
    """sha256 of a file's bytes, or of its decompressed content with ``gunzip=True``."""
    digest = hashlib.sha256()
    opener = gzip.open if gunzip else open
    with opener(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(path: Path, spec: FileSpec) -> str | None:
    """Why ``path`` is not a good copy of ``spec``, or None when it is.

    A gzip file whose compressed bytes differ is still accepted when its content matches
    ``sha256_uncompressed``: gzip output differs between zlib versions, the data does not.
    """
    actual = sha256_of(path)
    if actual == spec.sha256:
        return None
    if spec.sha256_uncompressed:
        try:
            content = sha256_of(path, gunzip=True)
        except (OSError, EOFError, zlib.error):
            content = None
        if content == spec.sha256_uncompressed:
            return None
    size = path.stat().st_size
    size_note = f" (size {size} bytes, expected {spec.bytes})" if size != spec.bytes else ""
    return f"checksum mismatch: expected sha256 {spec.sha256}, actual {actual}{size_note}"


@dataclass
class Store:
    """A cache directory of verified data files, filled from a mirror, URLs or derivation.

    ``manifest`` maps data-set names to specs; ``opener`` (a ``urllib`` opener) and
    ``progress`` are injectable so tests can run without network or terminal.
    """

    data_dir: Path
    manifest: dict[str, DatasetSpec]
    mirror: Path | None = None
    progress: bool = True
    timeout: float = DOWNLOAD_TIMEOUT_SECONDS
    deriver: dict[str, Callable] = field(default_factory=dict)

    def spec(self, name: str) -> DatasetSpec:
        """The spec of data set ``name``; an unknown name lists the known ones."""
        if name not in self.manifest:
            known = ", ".join(sorted(self.manifest))
            raise UnknownDataset(f"unknown data set {name!r}; known data sets: {known}")
        return self.manifest[name]

    def path(self, dataset: str, filename: str) -> Path:
        """Where ``filename`` of ``dataset`` lives in the cache (present or not)."""
        return self.data_dir / dataset / filename

    # -- verifying ---------------------------------------------------------------------

    def status(self, dataset: str) -> list[FileStatus]:
        """Check every cached file of ``dataset`` against the manifest."""
        result = []
        for spec in self.spec(dataset).files.values():
            path = self.path(dataset, spec.name)
            if not path.is_file():
                result.append(FileStatus(dataset, spec.name, path, "missing"))
                continue
            problem = check_file(path, spec)
            result.append(
                FileStatus(
                    dataset,
                    spec.name,
                    path,
                    "corrupt" if problem else "ok",
                    problem or "",
                    path.stat().st_size,
                )
            )
        return result

    # -- fetching ----------------------------------------------------------------------

    def fetch(self, dataset: str) -> Path:
        """Make every file of ``dataset`` present and verified; return its directory.

        Idempotent: verified files are kept; missing, truncated or corrupt ones are
        (re)fetched. Raises ``FetchError`` naming the file and every source tried.
        """
        spec = self.spec(dataset)
        for fstatus in self.status(dataset):
            if fstatus.status == "ok":
                continue
            if fstatus.status == "corrupt":
                log.warning("%s is corrupt (%s); fetching it again", fstatus.path, fstatus.detail)
            self._fetch_file(spec, spec.files[fstatus.name])
        return self.data_dir / dataset

    def _fetch_file(self, dataset: DatasetSpec, spec: FileSpec) -> None:
        target = self.path(dataset.name, spec.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        tried: list[str] = []
        for source, produce in self._sources(dataset, spec):
            try:
                self._install(target, spec, produce)
                log.info("%s: verified from %s", target, source)
                return
            except DataError as exc:
                tried.append(f"{source}: {exc}")
        detail = "\n  ".join(tried) if tried else "no mirror set and no download URL"
        hint = (
            ""
            if self.mirror
            else " (set DLCORE_DATA_MIRROR to a directory of <dataset>/<file> copies)"
        )
        raise FetchError(f"could not fetch {dataset.name}/{spec.name}{hint}; tried:\n  {detail}")

    def _sources(self, dataset: DatasetSpec, spec: FileSpec):
        """(description, writer) pairs in the order to try; a writer fills a temp file."""
        if self.mirror is not None:
            mirrored = self.mirror / dataset.name / spec.name
            if mirrored.is_file():
                yield f"mirror {mirrored}", lambda tmp: shutil.copyfile(mirrored, tmp)
            else:
                yield f"mirror {mirrored}", _missing(mirrored)
        for template in dataset.urls:
            url = template.format(file=spec.name)
            yield url, lambda tmp, url=url: self._download(url, tmp, spec)
        if dataset.derive:
            base = dataset.derive["from"]
            yield (
                f"derived from {base}",
                lambda tmp: self._derive(dataset, spec, tmp),
            )

    def _install(self, target: Path, spec: FileSpec, produce: Callable[[Path], None]) -> None:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            try:
                produce(tmp)
            except OSError as exc:
                raise FetchError(str(exc)) from exc
            problem = check_file(tmp, spec)
            if problem:
                raise ChecksumMismatch(problem)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def _download(self, url: str, tmp: Path, spec: FileSpec) -> None:
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                total = int(response.headers.get("Content-Length") or spec.bytes)
                received = 0
                with (
                    open(tmp, "wb") as out,
                    tqdm(
                        total=total,
                        unit="B",
                        unit_scale=True,
                        desc=spec.name,
                        disable=not self.progress,
                        leave=False,
                    ) as bar,
                ):
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
        except http.client.HTTPException as exc:  # e.g. IncompleteRead: connection dropped
            raise FetchError(f"download interrupted: {exc!r}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise FetchError(f"download failed: {exc}") from exc
        if received < total:
            raise FetchError(f"download interrupted after {received} of {total} bytes")

    def _derive(self, dataset: DatasetSpec, spec: FileSpec, tmp: Path) -> None:
        derive = self.deriver.get(dataset.name) or _derive_idx_slice
        source_dir = self.fetch(dataset.derive["from"])
        derive(source_dir / spec.name, tmp, dataset.derive)


def _missing(path: Path) -> Callable[[Path], None]:
    def produce(_tmp: Path) -> None:
        raise FetchError("not in the mirror")

    return produce


def _derive_idx_slice(source: Path, tmp: Path, derive: dict) -> None:
    """Write the first ``train_count`` items of an IDX training file (gzip) to ``tmp``.

    Test files are copied whole. The header's first dimension carries the new count.
    """
    from dlcore.data.formats import read_idx, write_idx

    if not source.name.startswith("train-"):
        shutil.copyfile(source, tmp)
        return
    array = read_idx(source)
    write_idx(tmp, array[: derive["train_count"]])


def default_store(*, progress: bool = True) -> Store:
    """The store the command line and the loaders use, configured from the environment."""
    return Store(
        data_dir=default_data_dir(),
        manifest=load_manifest(),
        mirror=default_mirror(),
        progress=progress,
    )
