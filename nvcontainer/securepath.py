"""Resolve, open and create paths inside a root directory without ever leaving it.

The driver root (``--root``) and the container rootfs are directory trees we do not trust:
a symlink in them may point anywhere (``/etc``, ``../../..``), and a path built by joining
strings would follow it out of the tree (the CVE-2024-0132/0133 and CVE-2025-23359 class).
Every function here walks the path one component at a time from a file descriptor of the
root, with ``openat(O_PATH|O_NOFOLLOW)`` and ``readlinkat``, in the manner of the original's
``do_path_resolve`` and of the kernel's ``openat2(RESOLVE_IN_ROOT)``:

* an absolute symlink target restarts at the root, a relative one continues from the
  directory holding the link;
* ``..`` pops the last resolved component and never goes above the root.  By default it is
  clamped there, as in a chroot (``/..`` is ``/``); with ``strict=True`` an attempt raises
  ``PathError("path error: <path> resolves outside of <root>")`` as the original does;
* at most ``MAX_SYMLINKS`` symlinks are followed in one resolution;
* components that do not exist are kept literally (and ``..`` after one pops it), so that a
  target that is yet to be created can be resolved;
* a component that exists but is not a directory cannot be walked through.

Resolved *strings* are only as good as the moment they were computed: a tree that changes
afterwards can invalidate them.  ``open_in_root`` returns a descriptor instead, which stays
inside the root whatever happens later (mount it through ``/proc/self/fd/N``).
Trailing slashes are ignored; ``follow_final=False`` applies to the last named component.
"""

from __future__ import annotations

import errno
import os
import stat

from nvcontainer.errors import PathError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple, TypeVar
    _T = TypeVar("_T")
    # Called with a directory's descriptor (and the path asked for) before anything is made in it.
    Fence = Callable[[int, str], None]

MAX_SYMLINKS = 40
_WALK_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_OPEN_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_TYPE_NAMES = {
    stat.S_IFREG: "regular file",
    stat.S_IFDIR: "directory",
    stat.S_IFLNK: "symbolic link",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
}


class _Node:
    """One resolved component below the root; ``fd`` is None when it does not exist (yet)."""

    __slots__ = ("name", "fd", "file_type")

    def __init__(self, name: str, fd: Optional[int], file_type: int) -> None:
        self.name = name
        self.fd = fd
        self.file_type = file_type  # stat.S_IFMT bits; S_IFDIR for a missing component (it may become one)


class _Walk:
    """The components a path resolved to, holding an O_PATH descriptor for each existing one."""

    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self.nodes: List[_Node] = []

    def fd_at(self, depth: int) -> Optional[int]:
        """Descriptor of the directory holding ``nodes[depth]`` (the root for depth 0)."""
        return self.root_fd if depth == 0 else self.nodes[depth - 1].fd

    def pop(self) -> None:
        node = self.nodes.pop()
        if node.fd is not None:
            os.close(node.fd)

    def reset(self) -> None:
        while self.nodes:
            self.pop()

    def path(self, depth: Optional[int] = None) -> str:
        names = [node.name for node in self.nodes[:depth]]
        return "/" + "/".join(names)

    def close(self) -> None:
        self.reset()
        os.close(self.root_fd)


def resolve_in_root(root: str, path: str, *, follow_final: bool = True, strict: bool = False) -> str:
    """The root-relative absolute path (``/usr/lib/x``) that ``path`` names inside ``root``.

    ``path`` may be absolute or relative; either way it is read with ``root`` as ``/``.
    """
    walk = _walk(root, path, follow_final=follow_final, strict=strict)
    try:
        return walk.path()
    finally:
        walk.close()


def join_in_root(root: str, path: str, *, follow_final: bool = True, strict: bool = False) -> str:
    """``root`` joined with ``resolve_in_root(root, path)``: a host path that stays inside ``root``."""
    return _join(root, resolve_in_root(root, path, follow_final=follow_final, strict=strict))


def open_in_root(
    root: str,
    path: str,
    flags: int = os.O_PATH,
    *,
    follow_final: bool = False,
    strict: bool = False,
) -> int:
    """A new descriptor of what ``path`` names inside ``root``; the caller closes it.

    With the default ``O_PATH`` the descriptor is the one the walk checked, so it refers to
    exactly that inode.  Other flags reopen the last component relative to its (checked)
    parent with ``O_NOFOLLOW`` added, so a final symlink fails there unless ``follow_final``.
    A missing component is an error.  ``O_CLOEXEC`` is always set.
    """
    walk = _walk(root, path, follow_final=follow_final, strict=strict)
    try:
        if any(node.fd is None for node in walk.nodes):
            raise PathError(f"no such file or directory: {path}")
        if flags & ~(os.O_CLOEXEC | os.O_NOFOLLOW) == os.O_PATH and walk.nodes:
            leaf = walk.nodes.pop()
            assert leaf.fd is not None
            return leaf.fd
        if not walk.nodes:
            return _os_call(path, os.open, ".", flags | os.O_CLOEXEC, dir_fd=walk.root_fd)
        parent = walk.fd_at(len(walk.nodes) - 1)
        name = walk.nodes[-1].name
        return _os_call(path, os.open, name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    finally:
        walk.close()


def mkdirs_in_root(root: str, path: str, mode: int = 0o755, uid: int = -1, gid: int = -1, *,
                   fence: Optional[Fence] = None) -> List[str]:
    """Make ``path`` and its missing ancestors directories inside ``root`` (like ``mkdir -p``).

    An existing directory is reused; an existing entry of another type is a ``PathError``.
    Each directory made gets exactly ``mode`` (the umask does not apply) and, where not -1,
    owner ``uid``/``gid``.  Returns the root-relative paths made, outermost first; pass them
    to ``remove_created`` to undo.  ``fence(dir_fd, path)``, where given, is called with each
    directory before anything is made in it, and may raise to refuse.
    """
    return _create(root, path, want=stat.S_IFDIR, mode=mode, uid=uid, gid=gid, dir_mode=mode, fence=fence)[0]


def open_dir_in_root(root: str, path: str, mode: int = 0o755) -> int:
    """A descriptor (``O_RDONLY | O_DIRECTORY``) of the directory ``path`` names inside ``root``,
    made first with its missing ancestors (``mkdirs_in_root``) where it is not there.  The image's
    links on the way are followed inside ``root``, as Go's ``os.Root.MkdirAll`` follows them."""
    directory = resolve_in_root(root, path)
    mkdirs_in_root(root, directory, mode)
    return open_in_root(root, directory, os.O_RDONLY | os.O_DIRECTORY)


def create_file_in_root(
    root: str,
    path: str,
    mode: int = 0o644,
    uid: int = -1,
    gid: int = -1,
    *,
    dir_mode: int = 0o755,
    reuse_types: Sequence[int] = (stat.S_IFREG,),
) -> List[str]:
    """Make an empty placeholder file at ``path`` inside ``root``, e.g. as a bind-mount target.
    (``open_placeholder`` also returns a descriptor of it.)

    Missing ancestors are made as in ``mkdirs_in_root`` (with ``dir_mode``).  The file is
    created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` relative to its parent's descriptor.  An
    existing entry whose type is in ``reuse_types`` (``stat.S_IFREG``, ``stat.S_IFCHR``, ...)
    is reused; any other (a directory, a fifo, a symlink in the last component) is a
    ``PathError``.  Returns the root-relative paths made, outermost first.
    """
    return _create(
        root, path, want=stat.S_IFREG, mode=mode, uid=uid, gid=gid, dir_mode=dir_mode, reuse=reuse_types
    )[0]


def open_placeholder(root: str, path: str, mode: int = 0o644, uid: int = -1, gid: int = -1, *,
                     reuse_types: Sequence[int] = (stat.S_IFREG,),
                     fence: Optional[Fence] = None) -> Tuple[List[str], int]:
    """``create_file_in_root`` that also returns a descriptor of the file it made or reused: the
    very inode its walk checked (``open_in_root(root, path, follow_final=False)`` without walking
    the path a second time).  The caller closes it.  ``fence`` as for ``mkdirs_in_root``."""
    created, fd = _create(root, path, want=stat.S_IFREG, mode=mode, uid=uid, gid=gid, dir_mode=0o755,
                          reuse=reuse_types, keep_fd=True, fence=fence)
    assert fd is not None
    return created, fd


def remove_created(root: str, created: Iterable[str]) -> None:
    """Best-effort undo of ``mkdirs_in_root``/``create_file_in_root``: innermost first.

    Only empty directories and empty regular files are removed; anything else, or anything
    that has gone, is left alone.
    """
    for path in reversed(list(created)):
        parent, _, name = path.rstrip("/").rpartition("/")
        if not name or name in (".", ".."):
            continue
        try:
            dir_fd = open_in_root(root, parent or "/", follow_final=True)
        except PathError:
            continue
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                os.rmdir(name, dir_fd=dir_fd)
            elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
                os.unlink(name, dir_fd=dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


def _walk(root: str, path: str, *, follow_final: bool, strict: bool) -> _Walk:
    root_fd = _os_call(root, os.open, root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    walk = _Walk(root_fd)
    try:
        _resolve(walk, root, path, follow_final=follow_final, strict=strict)
    except BaseException:
        walk.close()
        raise
    return walk


def _resolve(walk: _Walk, root: str, path: str, *, follow_final: bool, strict: bool) -> None:
    todo = _components(path)[::-1]  # a stack: the next component last
    links = 0
    while todo:
        name = todo.pop()
        if walk.nodes and walk.nodes[-1].file_type != stat.S_IFDIR:
            raise PathError(f"not a directory: {path}")
        if name == ".":
            continue
        if name == "..":
            if walk.nodes:
                walk.pop()
            elif strict:
                raise PathError(f"path error: {path} resolves outside of {root}")
            continue
        parent = walk.fd_at(len(walk.nodes))
        if parent is None:
            walk.nodes.append(_Node(name, None, stat.S_IFDIR))
            continue
        try:
            fd = os.open(name, _WALK_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            walk.nodes.append(_Node(name, None, stat.S_IFDIR))
            continue
        except OSError as exc:
            raise _path_error(exc, path) from None
        try:
            file_type = stat.S_IFMT(os.fstat(fd).st_mode)
            if file_type != stat.S_IFLNK or not (todo or follow_final):
                walk.nodes.append(_Node(name, fd, file_type))
                continue
            # readlinkat(fd, "") reads the very link we opened, not whatever has the name now.
            target = os.readlink("", dir_fd=fd)
        except OSError as exc:
            os.close(fd)
            raise _path_error(exc, path) from None
        os.close(fd)
        links += 1
        if links > MAX_SYMLINKS:
            raise PathError(f"too many levels of symbolic links: {path}")
        if target.startswith("/"):
            walk.reset()
        todo.extend(_components(target)[::-1])


def _create(
    root: str,
    path: str,
    *,
    want: int,
    mode: int,
    uid: int,
    gid: int,
    dir_mode: int,
    reuse: Sequence[int] = (stat.S_IFDIR,),
    keep_fd: bool = False,
    fence: Optional[Fence] = None,
) -> Tuple[List[str], Optional[int]]:
    if want != stat.S_IFDIR and _components(path)[-1:] in ([], ["."], [".."]):
        raise PathError(f"not a file name: {path}")
    walk = _walk(root, path, follow_final=(want == stat.S_IFDIR), strict=False)
    created: List[str] = []
    try:
        _create_missing(
            walk, path, want=want, mode=mode, uid=uid, gid=gid, dir_mode=dir_mode, created=created, fence=fence
        )
        nodes = walk.nodes
        if not nodes and want != stat.S_IFDIR:
            raise PathError(f"existing directory where a file is expected: {path}")
        accepted = (stat.S_IFDIR,) if want == stat.S_IFDIR else tuple(reuse)
        if nodes and not created and nodes[-1].file_type not in accepted:
            raise _type_error(nodes[-1].file_type, want, path)
    except BaseException:
        walk.close()
        remove_created(root, created)
        raise
    kept = None
    if keep_fd and walk.nodes:
        kept, walk.nodes[-1].fd = walk.nodes[-1].fd, None  # the caller's now: not closed with the walk
    walk.close()
    return created, kept


def _create_missing(
    walk: _Walk, path: str, *, want: int, mode: int, uid: int, gid: int, dir_mode: int, created: List[str],
    fence: Optional[Fence] = None,
) -> None:
    """Create the walk's missing components in order, recording each one made in ``created``."""
    nodes = walk.nodes
    for depth, node in enumerate(nodes):
        if node.fd is not None:
            continue
        last = depth == len(nodes) - 1
        node_type = want if last else stat.S_IFDIR
        parent = walk.fd_at(depth)
        assert parent is not None
        if fence is not None:
            fence(parent, path)
        node.fd, made = _make(parent, node.name, node_type, mode if last else dir_mode, uid, gid, path)
        node.file_type = node_type
        if made:
            created.append(walk.path(depth + 1))


def _make(
    parent: int, name: str, file_type: int, mode: int, uid: int, gid: int, path: str
) -> Tuple[int, bool]:
    """Create ``name`` under ``parent``; returns a descriptor of it and whether we made it."""
    made = True
    try:
        if file_type == stat.S_IFDIR:
            os.mkdir(name, 0o700, dir_fd=parent)
            fd = os.open(name, _DIR_OPEN_FLAGS, dir_fd=parent)
        else:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=parent)
    except FileExistsError:
        # Someone made it between our walk and now: look at it again, without following it.
        made = False
    except OSError as exc:
        raise _path_error(exc, path) from None
    if not made:
        fd = _os_call(path, os.open, name, _WALK_FLAGS, dir_fd=parent)
        found = stat.S_IFMT(os.fstat(fd).st_mode)
        if found != file_type:
            os.close(fd)
            raise _type_error(found, file_type, path)
        return fd, False
    try:
        # fchown/fchmod on the descriptor we created: nothing can be swapped in between.
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    except OSError as exc:
        _unmake(parent, name, fd)
        raise _path_error(exc, path) from None
    except OverflowError:
        _unmake(parent, name, fd)
        raise PathError(f"invalid owner {uid}:{gid}: {path}") from None
    return fd, True


def _unmake(parent: int, name: str, fd: int) -> None:
    """Remove the entry ``_make`` just made, if ``name`` still is that entry; closes ``fd``."""
    try:
        made = os.fstat(fd)
        now = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if (now.st_dev, now.st_ino) == (made.st_dev, made.st_ino):
            if stat.S_ISDIR(now.st_mode):
                os.rmdir(name, dir_fd=parent)
            else:
                os.unlink(name, dir_fd=parent)
    except OSError:
        pass
    finally:
        os.close(fd)


def _components(path: str) -> List[str]:
    return [part for part in path.split("/") if part]


def _join(root: str, resolved: str) -> str:
    base = root.rstrip("/")
    if not base:
        return resolved
    return base if resolved == "/" else base + resolved


def _type_name(file_type: int) -> str:
    return _TYPE_NAMES.get(file_type, "special file")


def _type_error(found: int, wanted: int, path: str) -> PathError:
    expected = "a directory" if wanted == stat.S_IFDIR else "a file"
    return PathError(f"existing {_type_name(found)} where {expected} is expected: {path}")


def _path_error(exc: OSError, path: str) -> PathError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno == errno.ELOOP:
        reason = "too many levels of symbolic links"
    return PathError(f"{reason.lower()}: {path}")


def _os_call(path: str, func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``func(*args, **kwargs)`` with an ``OSError`` turned into a one-line ``PathError`` naming ``path``."""
    try:
        return func(*args, **kwargs)
    except OSError as exc:
        raise _path_error(exc, path) from None
