"""The gateway's own files are private to its user: 0600, and 0700 for a folder it creates.

They hold messages, phone numbers, media and secrets: the SQLite database and its -wal and -shm
files, the lease's lock files, `tgw.admin-token` and `tgw.key`. The process-wide umask is left
alone (it is shared by every thread): files are created with an explicit mode instead, and
SQLite gives -wal and -shm the mode of the database file. One of these files found with access
for the group or others (made by an older version, or copied in) is narrowed to its owner's bits,
with a warning; a folder that already exists is never changed (it is the user's).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def make_private_folders(folder: Path) -> None:
    """Create `folder` and its missing parents, each 0700; existing ones are not touched."""
    missing: list[Path] = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue
        # mkdir's mode goes through the umask, which may only take bits away; be exact.
        os.chmod(path, FOLDER_MODE)


def create_private_file(path: Path) -> None:
    """Make `path` exist, empty and 0600 if it was missing; narrow it if it was there."""
    if path.exists():
        narrow(path)
        return
    make_private_folders(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:  # made meanwhile by another process: judge it as found
        narrow(path)
        return
    os.close(fd)


def narrow(path: Path) -> None:
    """Take any access of the group and others away from one of our files (with a warning)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if not mode & 0o077:
        return
    try:
        os.chmod(path, mode & 0o700)
    except OSError as exc:
        log.warning(
            "%s is readable by other users (mode %04o) and cannot be made private: %s",
            path,
            mode,
            exc.strerror,
        )
        return
    log.warning("%s was open to other users (mode %04o); it is now %04o", path, mode, mode & 0o700)


def narrow_fd(fd: int, path: Path) -> None:
    """`narrow` for a file this process has open (a lock file)."""
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    if mode & 0o077:
        os.fchmod(fd, mode & 0o700)
        log.warning(
            "%s was open to other users (mode %04o); it is now %04o", path, mode, mode & 0o700
        )
