"""How a case's data reach a worker that may not see the driver's disk.

By default a dataset folder travels as bytes: the folder is packed once (tar.gz in memory) and
held by one Dask task whose spec the scheduler keeps, so a worker that dies with it loses
nothing: the scheduler recomputes it elsewhere. The worker unpacks it once per content digest
into its temp folder, under the folder's own name (the scenario's name comes from it, so rows
match ``simulate`` on the original). With ``--shared-fs`` only the path travels."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Packed:
    """A dataset folder as bytes: ``name`` the folder's name, ``inner`` the file the scenario
    spec named inside it ("" for the folder itself), ``digest`` of the content."""

    name: str
    inner: str
    digest: str
    blob: bytes


@dataclass(frozen=True)
class SharedPath:
    """The worker reads the dataset at the driver's path (``--shared-fs``)."""

    path: str


DataRef = Packed | SharedPath


def pack_folder(path: str) -> Packed:
    """Pack the folder of ``path`` (a folder, or a file in it such as ``schema.json``)."""
    p = Path(path)
    folder, inner = (p, "") if p.is_dir() else (p.parent, p.name)
    files = sorted(f for f in folder.rglob("*") if f.is_file())
    digest = hashlib.sha256()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for f in files:
            rel = f.relative_to(folder).as_posix()
            data = f.read_bytes()
            digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return Packed(folder.name, inner, digest.hexdigest()[:16], buf.getvalue())


def hold(ref: DataRef) -> DataRef:
    """The Dask task that holds a folder's bytes (identity: its argument is the data)."""
    return ref


def local_path(ref: DataRef, root: Path | None = None) -> str:
    """The path the worker loads: the shared one, or the unpacked copy (made once)."""
    if isinstance(ref, SharedPath):
        return ref.path
    root = root or Path(tempfile.gettempdir()) / "energy-agents-sweep"
    home = root / ref.digest
    folder = home / ref.name
    if not folder.is_dir():
        home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=home, prefix=".unpack-"))
        with tarfile.open(fileobj=io.BytesIO(ref.blob), mode="r:gz") as tar:
            tar.extractall(staging, filter="data")
        try:
            os.rename(staging, folder)  # atomic: another worker on this host may race us
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not folder.is_dir():
                raise
    return str(folder / ref.inner) if ref.inner else str(folder)
