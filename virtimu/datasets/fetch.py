"""``virtimu data fetch``: download a dataset archive the user asked for, verify, unpack.

Only ever runs on the user's command (never in tests against the network):
tests use ``file://`` URLs.  Datasets without a public URL print how to
obtain them instead.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from virtimu.datasets.base import DatasetInfo, get_dataset

log = logging.getLogger(__name__)


class ChecksumError(ValueError):
    """A downloaded file's sha256 differs from the published one."""


def sha256_of(path: str | Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: Path, sha256: str | None = None, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` atomically (temp file + rename), checking ``sha256`` when given."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with urllib.request.urlopen(url) as resp, os.fdopen(fd, "wb") as out:  # noqa: S310 (user-requested URL)
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        if sha256 is not None:
            got = sha256_of(tmp)
            if got != sha256.lower():
                raise ChecksumError(f"{url}: sha256 {got} does not match the published {sha256}")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def fetch(name: str, to: str | Path, url: str | None = None, progress: bool = True) -> Path | None:
    """Download and unpack dataset ``name`` into ``to/<name>``.

    url: override the registered download URL (e.g. a mirror or a local file).
    Returns the folder, or None when the dataset has no public URL (its
    instructions are logged).  An existing complete download is reused.
    """
    info: DatasetInfo = get_dataset(name)[0]
    url = url or info.download_url
    if not url:
        log.warning("%s has no public download URL. %s", info.name, info.instructions)
        return None
    target = Path(to) / info.name
    marker = target / ".virtimu-fetched"
    if marker.exists():
        log.info("%s already fetched in %s", info.name, target)
        return target
    archive = Path(to) / f".{info.name}-{Path(url.split('?')[0]).name or 'download'}"
    checksum = info.sha256 if url == info.download_url else None
    download(url, archive, checksum, progress=progress)
    staging = Path(tempfile.mkdtemp(prefix=f".{info.name}-", dir=to))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():  # refuse paths escaping the folder
                    if Path(member).is_absolute() or ".." in Path(member).parts:
                        raise ValueError(f"{url}: unsafe path in archive: {member!r}")
                zf.extractall(staging)
        else:
            shutil.copy2(archive, staging / Path(url).name)
        (staging / ".virtimu-fetched").write_text(f"{url}\n{sha256_of(archive)}\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        archive.unlink(missing_ok=True)
    return target
