"""Uploaded bundles: a tar.gz or zip unpacked safely into a directory, and the other way."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from api.errors import InvalidInputError
from api.runtime.bundle import MANIFEST

MAX_FILES = 64
"""Most files an uploaded bundle may hold."""


def unpack(data: bytes, into: Path, max_bytes: int) -> Path:
    """Unpack a bundle archive into ``into``; the bundle's directory (where its manifest is).

    Only regular files are taken; a link, a device, an absolute path, a ``..`` or more
    than ``max_bytes`` unpacked is refused with a 422 that says so.
    """
    if data[:4] == b"PK\x03\x04":
        members = _zip_members(data)
    elif data[:2] == b"\x1f\x8b" or _is_tar(data):
        members = _tar_members(data)
    else:
        raise InvalidInputError("the bundle must be a tar.gz (or tar) or a zip archive")
    if len(members) > MAX_FILES:
        raise InvalidInputError(f"the bundle holds {len(members)} files, more than {MAX_FILES}")
    total = 0
    for name, content in members:
        total += len(content)
        if total > max_bytes:
            raise InvalidInputError(f"the bundle unpacks to more than {max_bytes} bytes")
        target = into / _safe(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return _bundle_root(into)


def pack(bundle_dir: Path) -> bytes:
    """The files of ``bundle_dir`` (not its subdirectories' dot-files) as a tar.gz."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(p for p in bundle_dir.rglob("*") if p.is_file()):
            rel = path.relative_to(bundle_dir)
            if not any(part.startswith(".") for part in rel.parts):
                tar.add(path, arcname=rel.as_posix(), recursive=False)
    return buffer.getvalue()


def _is_tar(data: bytes) -> bool:
    return len(data) > 262 and data[257:262] == b"ustar"


def _tar_members(data: bytes) -> list[tuple[str, bytes]]:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            members = []
            for info in tar.getmembers():
                if info.isdir():
                    continue
                if not info.isfile():
                    raise InvalidInputError(
                        f"the bundle's {info.name!r} is not a regular file (links and devices "
                        "are refused)"
                    )
                handle = tar.extractfile(info)
                assert handle is not None  # a regular file always has one
                members.append((info.name, handle.read()))
            return members
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidInputError(f"the bundle is not a readable tar archive: {exc}") from exc


def _zip_members(data: bytes) -> list[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = []
            for info in archive.infolist():
                if info.is_dir():
                    continue
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise InvalidInputError(f"the bundle's {info.filename!r} is a symbolic link")
                members.append((info.filename, archive.read(info)))
            return members
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise InvalidInputError(f"the bundle is not a readable zip archive: {exc}") from exc


def _safe(name: str) -> Path:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise InvalidInputError(f"the bundle's path {name!r} lies outside the bundle")
    return Path(*(part for part in path.parts if part != "."))


def _bundle_root(into: Path) -> Path:
    if (into / MANIFEST).is_file():
        return into
    found = [p.parent for p in into.glob(f"*/{MANIFEST}")]
    if len(found) != 1:
        raise InvalidInputError(
            f"the bundle has no {MANIFEST} at its top (or in one top-level directory)"
        )
    return found[0]
