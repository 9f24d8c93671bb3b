"""Where data files come from and how they are checked: the manifest, the cache, fetching.

A data set is a few files listed in ``datasets/manifest.json`` with their size and sha256.
``fetch`` makes every file of a data set present and verified in the cache directory,
taking it from (in order) the cache itself, a mirror directory laid out as
``<dataset>/<file>``, the data set's URLs, or — for a data set declared as a slice of
another (``mnist-small``) — by deriving it. Nothing unverified is ever renamed into the
cache: files are written to a temporary name beside their target first.

Copying from the mirror and downloading rest on pooch (``pooch.retrieve`` with a mirror
downloader or its ``HTTPDownloader``): it writes the temporary file, checks its sha256 and
moves it into place, or deletes it. Ours are the parts pooch has no notion of: a gzip file
is also accepted when its *content* matches ``sha256_uncompressed`` (mirror copies and
derived files are re-compressed; gzip bytes differ between zlib versions, the data does
not), several sources tried in turn, and deriving ``mnist-small`` from ``mnist``.
A download must be the published file itself (its ``sha256``).

Settings (read here only):

- ``DLCORE_DATA_DIR``: the cache directory. Default: ``datasets/`` of this checkout when
  dlcore runs from one, otherwise the user cache directory from platformdirs
  (``$XDG_CACHE_HOME/dlcore``, i.e. ``~/.cache/dlcore`` on Linux).
- ``DLCORE_DATA_MIRROR``: a directory laid out as ``<dataset>/<file>`` to take files from
  instead of the network (air-gapped machines, CI).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from dlcore.data.errors import ChecksumMismatch, DataError, FetchError, UnknownDataset
from dlcore.progress import progress_bar

# pooch, platformdirs and tqdm (through dlcore.progress) are imported where they are used:
# `import dlcore.data` stays light for code that never fetches (the worker's image does not
# carry them).

log = logging.getLogger(__name__)

CHUNK = 1 << 16
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
    the user cache directory (platformdirs: ``~/.cache/dlcore`` on Linux)."""
    if os.environ.get("DLCORE_DATA_DIR"):
        return Path(os.environ["DLCORE_DATA_DIR"]).expanduser()
    root = _checkout_root()
    if root is not None:
        return root / "datasets"
    import platformdirs

    return platformdirs.user_cache_path("dlcore", appauthor=False)


def default_mirror() -> Path | None:
    """The mirror directory from ``DLCORE_DATA_MIRROR``, or None."""
    value = os.environ.get("DLCORE_DATA_MIRROR")
    return Path(value).expanduser() if value else None


def _mismatch(path: Path, spec: FileSpec, actual: str) -> str:
    size = path.stat().st_size
    size_note = f" (size {size} bytes, expected {spec.bytes})" if size != spec.bytes else ""
    return f"checksum mismatch: expected sha256 {spec.sha256}, actual {actual}{size_note}"


def _content_sha256(path: Path) -> str | None:
    """sha256 of a gzip file's decompressed content; None when it is not readable gzip."""
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error):
        return None
    return digest.hexdigest()


def _judge(path: Path, spec: FileSpec) -> tuple[str, str | None]:
    """The sha256 of ``path``'s bytes and why it is not a good copy of ``spec`` (or None)."""
    import pooch

    actual = pooch.file_hash(str(path))
    if actual == spec.sha256:
        return actual, None
    if spec.sha256_uncompressed and _content_sha256(path) == spec.sha256_uncompressed:
        return actual, None
    return actual, _mismatch(path, spec, actual)


def check_file(path: Path, spec: FileSpec) -> str | None:
    """Why ``path`` is not a good copy of ``spec``, or None when it is.

    A gzip file whose compressed bytes differ is still accepted when its content matches
    ``sha256_uncompressed``: gzip output differs between zlib versions, the data does not.
    """
    return _judge(Path(path), spec)[1]


class MirrorDownloader:
    """A pooch downloader copying ``<dataset>/<file>`` (its "URL") from a mirror directory."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def __call__(self, url: str, output_file: str, pooch_: object) -> None:
        shutil.copyfile(self.root / url, output_file)


#: Temporary files are created private (0600); a verified data file is readable by every
#: user, so a cache filled by root (a course image, a shared classroom machine) serves all.
DATA_FILE_MODE = 0o644


def _retrieve(url: str, sha256: str, target: Path, downloader: Callable) -> None:
    """``pooch.retrieve`` into ``target``: temporary file, sha256 check, then the move."""
    import pooch

    logger = pooch.get_logger()  # prints "Downloading data from ..." on stderr at INFO
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        pooch.retrieve(
            url,
            known_hash=f"sha256:{sha256}",
            fname=target.name,
            path=target.parent,
            downloader=downloader,
        )
    except ValueError as exc:  # pooch's own hash check (the source changed while copied)
        raise ChecksumMismatch(f"checksum mismatch: {exc}") from exc
    finally:
        logger.setLevel(level)
    target.chmod(DATA_FILE_MODE)


@dataclass
class Store:
    """A cache directory of verified data files, filled from a mirror, URLs or derivation.

    ``manifest`` maps data-set names to specs. ``progress`` allows a text progress bar on
    stderr for downloads; tqdm shows it only when stderr is a terminal.
    """

    data_dir: Path
    manifest: dict[str, DatasetSpec]
    mirror: Path | None = None
    progress: bool = True
    timeout: float = DOWNLOAD_TIMEOUT_SECONDS

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
        for source, install in self._sources(dataset, spec):
            try:
                install(target)
                log.info("%s: verified from %s", target, source)
                return
            except (DataError, OSError) as exc:
                tried.append(f"{source}: {exc}")
        detail = "\n  ".join(tried) if tried else "no mirror set and no download URL"
        hint = (
            ""
            if self.mirror
            else " (set DLCORE_DATA_MIRROR to a directory of <dataset>/<file> copies)"
        )
        raise FetchError(f"could not fetch {dataset.name}/{spec.name}{hint}; tried:\n  {detail}")

    def _sources(self, dataset: DatasetSpec, spec: FileSpec):
        """(description, install) pairs in the order to try; ``install(target)`` puts a
        verified file at ``target`` or raises."""
        if self.mirror is not None:
            mirrored = self.mirror / dataset.name / spec.name
            yield f"mirror {mirrored}", lambda target: self._copy_from_mirror(dataset, spec, target)
        for template in dataset.urls:
            url = template.format(file=spec.name)
            yield url, lambda target, url=url: self._download(url, spec, target)
        if dataset.derive:
            yield (
                f"derived from {dataset.derive['from']}",
                lambda target: self._derive(dataset, spec, target),
            )

    def _copy_from_mirror(self, dataset: DatasetSpec, spec: FileSpec, target: Path) -> None:
        # The mirror file is judged where it lies (either sha256 may accept it); pooch then
        # checks that the copy has the very bytes that were accepted.
        key = f"{dataset.name}/{spec.name}"
        mirrored = self.mirror / key
        if not mirrored.is_file():
            raise FetchError("not in the mirror")
        actual, problem = _judge(mirrored, spec)
        if problem:
            raise ChecksumMismatch(problem)
        _retrieve(key, actual, target, MirrorDownloader(self.mirror))

    def _download(self, url: str, spec: FileSpec, target: Path) -> None:
        import pooch
        import requests.exceptions  # pooch's HTTP layer

        bar = progress_bar(
            total=spec.bytes,
            unit="B",
            unit_scale=True,
            desc=spec.name,
            leave=False,
            progress=None if self.progress else False,  # None: only on a terminal
        )
        http = pooch.HTTPDownloader(progressbar=bar, chunk_size=CHUNK, timeout=self.timeout)

        def download_and_check(url: str, output_file: str, pooch_: object) -> None:
            http(url, output_file, pooch_)
            actual = pooch.file_hash(output_file)
            if actual != spec.sha256:  # worded like `verify`; pooch's check follows
                raise ChecksumMismatch(_mismatch(Path(output_file), spec, actual))

        try:
            with bar:
                _retrieve(url, spec.sha256, target, download_and_check)
        except requests.exceptions.ChunkedEncodingError as exc:  # connection dropped
            raise FetchError(f"download interrupted: {exc}") from exc
        except requests.exceptions.RequestException as exc:
            raise FetchError(f"download failed: {exc}") from exc

    def _derive(self, dataset: DatasetSpec, spec: FileSpec, target: Path) -> None:
        # Ours, not pooch's: a derived gzip's bytes depend on the local zlib, so only its
        # content sha256 can accept it, and pooch checks one hash of the bytes.
        source_dir = self.fetch(dataset.derive["from"])
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            _derive_idx_slice(source_dir / spec.name, tmp, dataset.derive)
            problem = check_file(tmp, spec)
            if problem:
                raise ChecksumMismatch(problem)
            tmp.chmod(DATA_FILE_MODE)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


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
