"""Reclaim what dead owners left behind: workspaces, control directories, cgroups.

A process killed without ``close()`` (SIGKILL, SIGTERM, the OOM killer) leaves
its episode's workspace, control directory and cgroups behind. Each of them
names its owner (``ptb_env.owner``): the owner file ``<root>/<episode_id>.owner``
beside the workspace, a tag at the end of each cgroup's name. The env calls
:func:`reclaim_orphans` when it is built and at every ``reset`` (a directory
listing and a ``/proc`` read per episode found: 5 ms with 20 live episodes on
the loaded 2-core development machine); anyone may call it.

Safety:

- Only what is proven dead is removed: a live owner, an owner on another host
  or in another pid namespace, an owner file that does not parse (being
  written), and a workspace without an owner file (an older release's, or kept
  with ``keep_workspace=True``) are all left alone.
- Nothing is followed: the owner file is opened with ``O_NOFOLLOW``; a workspace
  that is a symlink is unlinked, a directory is removed without following the
  links inside it (``Workspace.remove``).
- Concurrent reclaimers: whoever takes the owner file's ``flock`` first removes
  the episode; the others skip it. The owner file goes last, so a reclaimer
  killed halfway leaves an episode that the next one finishes.
- A dead owner's cgroup is emptied (SIGKILL to every process inside) before it
  is removed. Only cgroups under this process's own cgroup are seen, which is
  where every process of the same service makes them.

>>> from ptb_env.reclaim import reclaim_orphans  # doctest: +SKIP
>>> reclaim_orphans("/tmp/ptb_env-0")  # doctest: +SKIP
Reclaimed(workspaces=['ep-0a1b2c3d4e5f'], cgroups=['ptb-9f8e7d6c5b4a.o4242-1234567-4026531836'])
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ptb_env.owner import OWNER_SUFFIX, Owner, read_owner_fd
from ptb_env.sandbox.cgroups import list_cgroups
from ptb_env.workspace import Workspace

_log = logging.getLogger(__name__)


@dataclass
class Reclaimed:
    """What one :func:`reclaim_orphans` call removed.

    Attributes:
        workspaces: Episode ids whose workspace, control directory and owner file were removed.
        cgroups: Names of the cgroups emptied and removed.
    """

    workspaces: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)


def reclaim_orphans(workspace_root: str | os.PathLike[str] | None, *, cgroups: bool = True) -> Reclaimed:
    """Remove the workspaces (under ``workspace_root``) and cgroups of dead owners.

    Never raises for what it finds on disk: an entry it cannot judge or remove is left alone.

    Args:
        workspace_root: Parent directory of the workspaces (``None``: cgroups only).
        cgroups: Also reclaim cgroups (those of every dead owner, whatever its workspace root).

    Returns:
        What was removed.
    """
    done = Reclaimed()
    if workspace_root is not None:
        root = Path(workspace_root)
        try:
            names = os.listdir(root)
        except OSError:
            names = []
        for name in names:
            if name.endswith(OWNER_SUFFIX) and _episode(root, name[: -len(OWNER_SUFFIX)]):
                done.workspaces.append(name[: -len(OWNER_SUFFIX)])
    if cgroups:
        for name, cgroup in list_cgroups().items():
            owner = Owner.from_tag(name)
            if owner is not None and owner.liveness() == "dead":
                cgroup.remove()
                done.cgroups.append(name)
    if done.workspaces or done.cgroups:
        _log.info("reclaimed from dead owners: workspaces %s, cgroups %s", done.workspaces, done.cgroups)
    return done


def _episode(root: Path, episode: str) -> bool:
    """Remove one episode if its owner is dead and no other reclaimer is at it; whether it did."""
    if not episode or episode.startswith("."):
        return False
    try:
        fd = os.open(root / f"{episode}{OWNER_SUFFIX}", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        owner = read_owner_fd(fd)
        if owner is None or owner.liveness() != "dead":
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # another reclaimer holds it
        if os.fstat(fd).st_nlink == 0:
            return False  # another reclaimer finished it while we waited
        Workspace(root / episode, root / f"{episode}.ctl", root).remove()
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
