"""Writing report files atomically, never over an existing file unless asked.

A file is written to a temporary file in the target's own folder and then moved into
place in one step (``os.replace``, or ``os.link`` when the target must not exist yet), so a
reader never sees half a report and an interrupted write leaves the old file untouched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from csi_models.errors import OutputError

__all__ = ["write_atomic", "check_target"]


def check_target(path, overwrite: bool) -> Path:
    """The target as a Path, after checking its folder exists and it may be (over)written."""
    path = Path(os.fspath(path)).expanduser()
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name, e.g. {path / 'report.html'}")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: the folder {path.parent} does not exist; "
                          "create it first")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it, "
                          "or choose another name")
    return path


def write_atomic(path, content, overwrite: bool = False) -> Path:
    """Write ``content`` (str as UTF-8, bytes as is, or a callable taking a binary file
    object) to ``path`` atomically; refuse to replace an existing file unless ``overwrite``."""
    path = check_target(path, overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            if callable(content):
                content(out)
            else:
                out.write(content.encode("utf-8") if isinstance(content, str) else content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _link_new(tmp: str, path: Path) -> None:
    """Move ``tmp`` to ``path`` only if ``path`` does not exist (no race with another writer)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputError(f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it, "
                          "or choose another name") from None
    except OSError:  # a file system without hard links: check, then replace
        if path.exists():
            raise OutputError(f"{path} exists; pass overwrite=True to replace it") from None
        os.replace(tmp, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
