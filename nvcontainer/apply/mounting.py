"""Mount a Plan into a rootfs, from inside the container's mount namespace.

Every target is resolved inside the rootfs without following symlinks out of it
(``nvcontainer.securepath``); the placeholder is created there, owned by the container's
user; the mount goes through descriptors of the checked source and target, so a path
swapped after the check cannot redirect it.  A mount that would receive one of ours and is
*shared* (a container created with shared rootfs propagation, whose peers may live in the host's
namespace) is first made a slave of its peer group, as runc's default ``rslave`` would have: it
still receives the host's mount events but sends none back, so nothing we mount propagates to
the host (the original leaves propagation alone and leaks in that setup).  Sources are opened ``O_PATH|O_NOFOLLOW`` and
must be what the Plan says (a file, a directory, a socket, or the very device node):
a symlink or a directory where a file belongs is refused (CVE-2024-0132/0133).  On any
error everything done so far is undone and the error is raised.

Two halves, on either side of ``setns``.  ``prepare_sources`` runs in the caller, in the host's
mount namespace: it opens and checks every host source, makes each a detached mount already
carrying its restrictions (``open_tree(OPEN_TREE_CLONE)`` + ``mount_setattr``), and reads the
content of every generated file.  ``apply_plan`` runs in the child inside the container's
namespace and only attaches those mounts (``move_mount``), writes the prepared bytes and makes
placeholders and links in the rootfs: it opens no host path.  (Without the new mount API a detached
mount cannot cross namespaces; the sources are then opened by path in the child, whose namespace
root ``nvcontainer.apply.enter`` has checked to be the host's root.)
"""

from __future__ import annotations

import errno
import os
import stat

from nvcontainer.apply.journal import Journal
from nvcontainer.bindings import linux, mounts
from nvcontainer.discovery import components as c
from nvcontainer.errors import MountError, NvcError, PathError
from nvcontainer.log import logger as log
from nvcontainer.plans import BindMount, Plan, Tmpfs
from nvcontainer.records import Record
from nvcontainer.regularfile import open_regular, read_fd, reason
from nvcontainer.securepath import mkdirs_in_root, open_in_root, open_placeholder

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Set, Tuple

TMPFS_FLAGS = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC  # the original's remount of its tmpfs
MAX_PROC_FILE = 1 << 20  # params, version, registry: a few KiB each
_KIND_TYPES = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "chardev": stat.S_IFCHR, "socket": stat.S_IFSOCK}


class Owner(Record):
    uid: int
    gid: int


class Prepared(Record):
    """What ``prepare_sources`` made ready for a Plan: per mount a detached mount fd (None: opened
    in the child), per tmpfs its files as ``(name, bytes, mode)``.  ``close()`` releases the fds
    (an attached mount stays where it is)."""

    sources: Tuple[Optional[int], ...]
    files: Tuple[Tuple[Tuple[str, bytes, int], ...], ...]

    def close(self) -> None:
        for fd in self.sources:
            if fd is not None:
                os.close(fd)


def _flags(flags: Tuple[str, ...]) -> Dict[str, bool]:
    return {"readonly": "ro" in flags, "nosuid": "nosuid" in flags, "nodev": "nodev" in flags,
            "noexec": "noexec" in flags}


def _os_error(exc: OSError, what: str) -> MountError:
    return MountError(f"{what}: {os.strerror(exc.errno or errno.EIO).lower()}")


def _tmpfs_files(t: Tmpfs) -> Tuple[Tuple[str, bytes, int], ...]:
    """``(name, bytes, permissions)`` of each file of ``t``: a source's text with its substitutions
    and, where the Plan gives no mode, the source's permissions; either less the umask, as the
    original writes them."""
    umask = _umask()
    out = []
    for f in t.files:
        data = f.content
        mode = f.mode
        if data is None and f.source is not None:
            read = _read_source(f.source)
            if read is None:
                continue  # e.g. no registry file: the original skips it
            data, source_mode = read
            for old, new in f.substitutions:
                data = data.replace(old, new)
            if mode is None:
                mode = source_mode
        perm = (0o444 if mode is None else mode) & 0o777 & ~umask
        out.append((f.name, (data or "").encode("utf-8", "surrogateescape"), perm))
    return tuple(out)


def prepare_sources(plan: Plan) -> Prepared:
    """Open, check and clone every host source of ``plan``; read its generated files (host side)."""
    new_api = linux.new_mount_api_available()
    sources: List[Optional[int]] = []
    try:
        files = tuple(_tmpfs_files(t) for t in plan.tmpfs)
        for m in plan.mounts:
            if m.in_rootfs or not new_api:
                sources.append(None)
                continue
            src = _open_source(m, "")
            try:
                sources.append(mounts.clone_mount(src, **_flags(m.flags)))
            except OSError as exc:
                raise _os_error(exc, f"mount operation failed: {m.source}") from None
            finally:
                os.close(src)
    except BaseException:
        Prepared(tuple(sources), ()).close()
        raise
    return Prepared(tuple(sources), files)


def _open_source(m: BindMount, rootfs: str) -> int:
    try:
        if m.in_rootfs:  # an image file (CUDA compat): untrusted, resolved inside the rootfs
            fd = open_in_root(rootfs, m.source, os.O_PATH, follow_final=False)
        else:
            fd = os.open(m.source, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise _os_error(exc, f"open failed: {m.source}") from None
    st = os.fstat(fd)
    want = _KIND_TYPES[m.kind]
    if stat.S_IFMT(st.st_mode) != want:
        os.close(fd)
        raise MountError(f"unexpected source file mode {stat.S_IFMT(st.st_mode):o} for {m.source}")
    if m.rdev is not None and (os.major(st.st_rdev), os.minor(st.st_rdev)) != m.rdev:
        os.close(fd)
        raise MountError(f"invalid device node: {m.source}")
    return fd


class Applier:
    def __init__(self, rootfs: str, owner: Owner, report: Optional[Callable[[str], None]] = None) -> None:
        self.rootfs = rootfs
        self.owner = owner
        self.journal = Journal(rootfs, report)
        self._checked: Set[int] = set()  # ids of mounts known not to propagate to peers
        # Host directories bound here (the MPS pipe dir, /dev/nvidia-caps, ...), by mount id: an
        # image link may route a later target into one, and nothing may be made on the host.
        self._host_dirs: Dict[int, str] = {}

    def _fence(self, dir_fd: int, path: str) -> None:
        """Refuse to make ``path``'s next component in ``dir_fd`` when that is a host directory bound here."""
        if not self._host_dirs:
            return
        try:
            inside = self._host_dirs.get(mounts.mnt_id(dir_fd))
        except OSError as exc:
            raise _os_error(exc, f"file creation failed: {path}") from None
        if inside is not None:
            raise PathError(f"file creation failed: {path}: it leads into the host directory mounted at {inside}")

    # -- targets ------------------------------------------------------------------------------------
    def _target(self, path: str, kind: str) -> int:
        """Create (if needed) and open the placeholder at ``path``; O_PATH fd of exactly that inode."""
        uid, gid = self.owner.uid, self.owner.gid
        if kind == "dir":
            self.journal.made(mkdirs_in_root(self.rootfs, path, 0o755, uid, gid, fence=self._fence))
            fd = open_in_root(self.rootfs, path, os.O_PATH, follow_final=False)
        else:
            reuse = (stat.S_IFREG, stat.S_IFCHR) if kind == "chardev" else (stat.S_IFREG,)
            made, fd = open_placeholder(self.rootfs, path, 0o644, uid, gid, reuse_types=reuse, fence=self._fence)
            self.journal.made(made)
        st = os.fstat(fd)
        is_dir = stat.S_ISDIR(st.st_mode)
        if is_dir != (kind == "dir") or stat.S_ISLNK(st.st_mode):
            os.close(fd)
            raise PathError(f"file creation failed: {path}: unexpected file type")
        return fd

    def _dir_target(self, path: str) -> int:
        try:
            return self._target(path, "dir")
        except PathError:
            if path != c.PROC_DRIVER:
                raise
        # No NVIDIA kernel module on this host (a simulated driver): /proc/driver/nvidia cannot be
        # made inside procfs, so a tmpfs over /proc/driver holds it.
        parent = os.path.dirname(path)
        fd = self._target(parent, "dir")
        try:
            self._no_propagation(fd)
            self.journal.mounted(mounts.tmpfs_mount_fd(fd, 0o555, TMPFS_FLAGS), parent)
        finally:
            os.close(fd)
        log.info("mounted a tmpfs on %s (no driver entry in procfs)", parent)
        return self._target(path, "dir")

    def _no_propagation(self, fd: int) -> None:
        """Make the mount holding ``fd`` a slave if it is shared, so mounts onto ``fd`` stay here."""
        try:
            mnt_id = mounts.mnt_id(fd)
            if mnt_id in self._checked:
                return
            entry = _mountinfo_entry(mnt_id)
            if entry is not None and entry[1]:
                point = entry[0]
                root_fd = os.open(point, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
                try:
                    if mounts.mnt_id(root_fd) != mnt_id:  # the path no longer leads to that mount
                        raise OSError(errno.ESTALE, "mount changed while checking its propagation", point)
                    linux.mount(None, f"/proc/self/fd/{root_fd}", None, linux.MS_SLAVE)
                finally:
                    os.close(root_fd)
                log.info("made shared mount %s a slave so that no mount propagates out of the container", point)
        except OSError as exc:
            raise _os_error(exc, f"mount propagation change failed: {exc.filename or fd}") from None
        self._checked.add(mnt_id)

    # -- steps --------------------------------------------------------------------------------------
    def tmpfs(self, t: Tmpfs, files: Tuple[Tuple[str, bytes, int], ...]) -> None:
        """Mount ``t`` as the original leaves it: writable (in the container's namespace only; no
        byte reaches a host file) and ``nosuid,nodev,noexec`` from the start, so nothing in it can
        be run or opened as a device; then write ``files`` (prepared on the host side: name, bytes,
        permissions) through the new mount's descriptor."""
        fd = self._dir_target(t.target)
        try:
            self._no_propagation(fd)
            mfd = mounts.tmpfs_mount_fd(fd, t.mode, TMPFS_FLAGS)
        except OSError as exc:
            raise _os_error(exc, f"mount operation failed: tmpfs on {t.target}") from None
        finally:
            os.close(fd)
        self.journal.mounted(mfd, t.target)
        for name, data, mode in files:
            out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=mfd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(out, view):]
                os.fchmod(out, mode)
            finally:
                os.close(out)
        log.info("mounted tmpfs %s with %d files", t.target, len(files))

    def bind(self, m: BindMount, tree: Optional[int] = None) -> None:
        """Mount ``m``: attach ``tree`` (its prepared detached mount) or, without one, bind the
        source opened here (an image file, or any source without the new mount API)."""
        src = _open_source(m, self.rootfs) if tree is None else None
        try:
            dst = self._target(m.target, m.kind)
            try:
                self._no_propagation(dst)
                if tree is None:
                    assert src is not None
                    mfd = mounts.bind_mount_fd(src, dst, **_flags(m.flags))
                else:
                    mounts.attach_mount(tree, dst)
                    mfd = os.dup(tree)
            except OSError as exc:
                raise _os_error(exc, f"mount operation failed: {m.source}") from None
            finally:
                os.close(dst)
        finally:
            if src is not None:
                os.close(src)
        self.journal.mounted(mfd, m.target)
        if m.kind == "dir":
            try:
                self._host_dirs[mounts.mnt_id(mfd)] = m.target
            except OSError as exc:
                raise _os_error(exc, f"mount operation failed: {m.source}") from None
        log.info("mounted %s at %s (%s)", m.source, m.target, ",".join(m.flags))

    def symlink(self, path: str, target: str) -> None:
        parent, name = os.path.split(path)
        dir_fd = open_in_root(self.rootfs, parent, follow_final=True)
        try:
            try:
                os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                return  # something is there already: leave it
            except FileNotFoundError:
                pass
            self._fence(dir_fd, path)
            os.symlink(target, name, dir_fd=dir_fd)
            os.chown(name, self.owner.uid, self.owner.gid, dir_fd=dir_fd, follow_symlinks=False)
            self.journal.linked(parent, name)
        except OSError as exc:
            raise _os_error(exc, f"symlink creation failed: {path}") from None
        finally:
            os.close(dir_fd)
        log.info("symlinked %s -> %s", path, target)



def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _read_source(path: str) -> Optional[Tuple[str, int]]:
    """The text and permission bits of a driver /proc file (None: it does not exist); never blocks."""
    try:
        fd = open_regular(path, follow=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MountError(f"open failed: {path}: {reason(exc)}") from None
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        return read_fd(fd, path, MAX_PROC_FILE).decode("utf-8", "surrogateescape"), mode
    except OSError as exc:
        raise MountError(f"read failed: {path}: {reason(exc)}") from None
    finally:
        os.close(fd)


def _mountinfo_entry(mnt_id: int) -> Optional[Tuple[str, bool]]:
    """(mount point, whether shared) of mount ``mnt_id`` in this process's namespace."""
    fields = mounts.mountinfo_fields(mnt_id)
    if fields is None:
        return None
    point = mounts.unescape(fields[4])
    return point, any(f.startswith("shared:") for f in fields[6:fields.index("-")])


def apply_plan(plan: Plan, rootfs: str, owner: Owner, after: Optional[Callable[[], None]] = None, *,
               prepared: Optional[Prepared] = None, report: Optional[Callable[[str], None]] = None) -> int:
    """Mount ``plan`` into ``rootfs`` in the current mount namespace; returns the mounts made.

    ``prepared`` is what ``prepare_sources(plan)`` made before entering (made here when None, for
    callers already in the namespace whose root is the host's).  ``report`` gets a line per step
    (``Journal``).  ``after`` runs once everything is mounted (ldconfig); if it fails, the mounts
    are undone too.
    """
    own = prepared is None
    ready = prepare_sources(plan) if prepared is None else prepared
    applier = Applier(rootfs, owner, report)
    try:
        for t, files in zip(plan.tmpfs, ready.files):
            applier.tmpfs(t, files)
        for m, tree in zip(plan.mounts, ready.sources):
            applier.bind(m, tree)
        for s in plan.symlinks:
            applier.symlink(s.path, s.target)
        if after is not None:
            after()
    except BaseException as exc:
        applier.journal.undo()
        if isinstance(exc, NvcError):
            raise
        if isinstance(exc, OSError):
            raise _os_error(exc, f"mount operation failed: {exc.filename or rootfs}") from None
        raise
    finally:
        if own:
            ready.close()
    count = len(applier.journal.mount_fds)
    applier.journal.close()
    return count
