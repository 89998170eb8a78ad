"""The driver files a CDI spec mounts, found by the rules of NVIDIA's ``nvidia-ctk cdi generate``.

A spec made here must be what a user of NVIDIA's tools (a k8s device plugin, a script diffing
specs, a later ``nvidia-ctk`` run) expects, so the files follow nvidia-ctk 1.20's lookup
(pkg/nvcdi, internal/discover) rather than libnvidia-container's component table:

* **driver library directories**: the directories holding ``lib*.so.<driver version>``,
  looked for in nvidia-ctk's default library directories under the driver root (``/usr/lib64``,
  ``/usr/lib/x86_64-linux-gnu``, ...), or in ``--library-search-path`` directories (host paths),
  else where the ld cache put the driver's libraries;
* **libraries**: every ``*.so.<driver version>`` in those directories and their ``vdpau``
  subdirectory, and ``libnvidia-nvvm70.so.*``; with the ``enable-explicit-driver-libraries``
  feature flag also ``libEGL.so``, ``libGL.so``, ... by those exact names.  The GLVND-named
  ``libEGL.so.<ver>`` etc. of a driver installed without GLVND are mounted like any other;
* **graphics**: ``libnvidia-egl-gbm/-wayland/-wayland2.so.*.*`` and
  ``libnvidia-vulkan-producer.so.<ver>`` (``libnvidia-allocator.so.<ver>`` only gives the
  ``gbm/nvidia-drm_gbm.so`` link: its mount comes with the libraries), the X.org driver and
  GLX server module, the EGL/Vulkan/OpenCL/X.org config files under ``/etc``,
  ``/usr/local/share`` and ``/usr/share`` (Vulkan ICD files go to ``/etc/vulkan/...``);
* **IPC**: the first ``nvidia-persistenced/socket`` and ``nvidia-fabricmanager/socket`` under
  ``/run`` or ``/var/run``.  nvidia-ctk names ``/tmp/nvidia-mps`` too, but its lookup only ever
  accepts files, so the MPS pipe directory is never mounted; ``mps_dir=True`` adds it;
* **firmware**: ``nvidia/<version>/gsp*.bin`` under ``/lib/firmware/updates/<uname -r>``,
  ``/lib/firmware/updates``, ``/lib/firmware/<uname -r>`` and ``/lib/firmware`` (after the
  kernel's custom ``firmware_class.path``);
* **binaries**: the first ``nvidia-smi``, ``nvidia-debugdump``, ``nvidia-persistenced``,
  ``nvidia-cuda-mps-control``, ``nvidia-cuda-mps-server``, ``nvidia-imex``, ``nvidia-imex-ctl``
  found in ``$PATH`` and the default program directories under the driver root.

Each file is mounted at its path relative to the driver root.  Links for the
``create-symlinks`` hook: ``libcuda.so``, ``libnvidia-opticalflow.so``,
``libGLX_indirect.so.0``, and for each library its SONAME link and ``.so`` link when the driver
root has them as symlinks (nvidia-ctk's ``WithDriverDotSoSymlinks``).

One difference, on purpose: library symlinks are resolved inside the driver root
(``securepath``), where nvidia-ctk resolves them on the host (a driver container's absolute
link would name a host file).
"""

from __future__ import annotations

import os

from nvcontainer import wildcard
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

    from nvcontainer.driver import Driver

MOUNT_OPTIONS = ("ro", "nosuid", "nodev", "rbind", "rprivate")
IPC_OPTIONS = ("nosuid", "nodev", "rbind", "rprivate", "noexec")

DEFAULT_LIBRARY_DIRS = (
    "/", "/usr/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu/nvidia/current", "/usr/lib/aarch64-linux-gnu/nvidia/current",
    "/lib64", "/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
    "/lib/x86_64-linux-gnu/nvidia/current", "/lib/aarch64-linux-gnu/nvidia/current",
)
EXPLICIT_LIBRARIES = ("libEGL.so", "libGL.so", "libGLESv1_CM.so", "libGLESv2.so", "libGLX.so", "libGLdispatch.so",
                      "libOpenCL.so", "libOpenGL.so", "libnvidia-api.so", "libnvidia-egl-xcb.so",
                      "libnvidia-egl-xlib.so")
BINARIES = ("nvidia-smi", "nvidia-debugdump", "nvidia-persistenced", "nvidia-cuda-mps-control",
            "nvidia-cuda-mps-server", "nvidia-imex", "nvidia-imex-ctl")
DEFAULT_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
CONFIGS = ("glvnd/egl_vendor.d/10_nvidia.json", "egl/egl_external_platform.d/15_nvidia_gbm.json",
           "egl/egl_external_platform.d/10_nvidia_wayland.json",
           "egl/egl_external_platform.d/09_nvidia_wayland2.json", "nvidia/nvoptix.bin",
           "X11/xorg.conf.d/10-nvidia.conf", "X11/xorg.conf.d/nvidia-drm-outputclass.conf",
           "OpenCL/vendors/nvidia.icd")
VULKAN = ("vulkan/icd.d/nvidia_icd.json", "vulkan/icd.d/nvidia_layers.json",
          "vulkan/implicit_layer.d/nvidia_layers.json")
VULKAN_ARCH = {"x86_64": "vulkan/icd.d/nvidia_icd.x86_64.json", "aarch64": "vulkan/icd.d/nvidia_icd.aarch64.json"}
SOCKETS = ("nvidia-persistenced/socket", "nvidia-fabricmanager/socket")
MPS_DIR = "/tmp/nvidia-mps"
FIRMWARE_CLASS_PATH = "/sys/module/firmware_class/parameters/path"


class Mount(Record):
    host_path: str
    path: str  # in the container
    options: Tuple[str, ...] = MOUNT_OPTIONS


class DriverFiles(Record):
    """What the common edits of a spec mount, and the links its hooks make, in nvidia-ctk's order."""

    version: str
    lib_dirs: Tuple[str, ...]  # root-relative: NVIDIA_CTK_LIBCUDA_DIR and where update-ldcache looks
    graphics: Tuple[Mount, ...]
    graphics_links: Tuple[str, ...]  # TARGET::LINK
    libraries: Tuple[Mount, ...]
    links: Tuple[str, ...]
    ldcache_dirs: Tuple[str, ...]
    ipcs: Tuple[Mount, ...]
    firmwares: Tuple[Mount, ...]
    binaries: Tuple[Mount, ...]


class _Root:
    """Lookups under the driver root (``root`` "/" or a directory), the way nvidia-ctk's locators do."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def host(self, path: str) -> str:
        return path if self.root == "/" else self.root + "/" + path.lstrip("/")

    def relative(self, host_path: str) -> str:
        if self.root == "/" or not host_path.startswith(self.root + "/"):
            return host_path
        return host_path[len(self.root):]

    def resolved(self, host_path: str) -> Optional[str]:
        """``host_path`` with its symlinks resolved inside the root; None if it leads nowhere."""
        from nvcontainer.errors import NvcError
        from nvcontainer.securepath import join_in_root

        try:
            return join_in_root(self.root, self.relative(host_path), strict=True)
        except NvcError:
            return None


def glob_dir(directory: str, pattern: str) -> List[str]:
    """``directory/pattern`` matches (``pattern`` may hold one ``/``-separated wildcard path), sorted."""
    head, _, tail = pattern.rpartition("/")
    base = os.path.join(directory, head) if head else directory
    try:
        names = os.listdir(base)
    except OSError:
        return []
    return [os.path.join(base, n) for n in sorted(wildcard.select(names, tail))]


def _is_file(path: str) -> bool:
    try:
        return not os.path.isdir(path) and os.path.exists(path)
    except OSError:
        return False


def _is_executable(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return not os.path.isdir(path) and bool(st.st_mode & 0o111)


class Finder:
    """nvidia-ctk's file rules over one driver root."""

    def __init__(self, driver: Driver, *, library_search_paths: Sequence[str] = (),
                 config_search_paths: Sequence[str] = ()) -> None:
        self.driver = driver
        self.root = _Root(driver.root)
        self.version = driver.nvrm_version
        self.library_search_paths = tuple(library_search_paths)
        self.config_search_paths = tuple(config_search_paths)
        self._lib_dirs: Optional[Tuple[str, ...]] = None

    # --- libraries --------------------------------------------------------------------------

    def _library_candidates(self, pattern: str) -> List[str]:
        """nvidia-ctk's library locator: the search paths (host paths) or the default directories
        under the root, links resolved; else the libraries the ld cache named."""
        found: List[str] = []
        if self.library_search_paths:
            dirs = [(d, d) for d in self.library_search_paths]
            root = _Root("/")
        else:
            dirs = [(d, self.root.host(d)) for d in DEFAULT_LIBRARY_DIRS]
            root = self.root
        for _, host_dir in dirs:
            for candidate in glob_dir(host_dir, pattern):
                if not _is_file(candidate):
                    continue
                target = root.resolved(candidate)
                if target and target not in found:
                    found.append(target)
        if found or self.library_search_paths:
            return found
        for lib in self.driver.libraries:  # the ld cache's answer
            if wildcard.match(os.path.basename(lib.host_path), pattern) and lib.host_path not in found:
                found.append(lib.host_path)
        return found

    def lib_dirs(self) -> Tuple[str, ...]:
        """The driver library directories (root-relative), in lookup order."""
        if self._lib_dirs is None:
            dirs: List[str] = []
            for path in self._library_candidates(f"lib*.so.{self.version}"):
                directory = self.root.relative(os.path.dirname(path))
                if directory not in dirs:
                    dirs.append(directory)
            self._lib_dirs = tuple(dirs)
        return self._lib_dirs

    def _in_lib_dirs(self, pattern: str, subdirs: Sequence[str] = ()) -> List[str]:
        """nvidia-ctk's DriverLibraryLocator: the lib dirs (and their ``subdirs``) under the root."""
        prefixes = list(self.lib_dirs()) + [f"{d}/{s}" for s in subdirs for d in self.lib_dirs()]
        out: List[str] = []
        for prefix in prefixes:
            for candidate in glob_dir(self.root.host(prefix), pattern):
                if not _is_file(candidate):
                    continue
                target = self.root.resolved(candidate)
                if target and target not in out:
                    out.append(target)
        return out

    def _mounts(self, host_paths: Iterable[str], seen: Set[str], options: Tuple[str, ...] = MOUNT_OPTIONS,
                ) -> List[Mount]:
        out = []
        for host_path in host_paths:
            if host_path in seen:
                continue
            seen.add(host_path)
            out.append(Mount(host_path, self.root.relative(host_path), options))
        return out

    def libraries(self, explicit: bool = False) -> List[Mount]:
        seen: Set[str] = set()
        mounts = self._mounts(self._in_lib_dirs(f"*.so.{self.version}", ("vdpau",)), seen)
        mounts += self._mounts(self._in_lib_dirs("libnvidia-nvvm70.so.*"), seen)
        if explicit:
            for name in EXPLICIT_LIBRARIES:
                mounts += self._mounts(self._in_lib_dirs(name), seen)
        return mounts

    def links(self, mounts: Sequence[Mount]) -> List[str]:
        """The create-symlinks links of the library mounts (nvidia-ctk's WithDriverDotSoSymlinks)."""
        from nvcontainer.discovery.elfscan import soname

        out: List[str] = []
        done: Set[str] = set()
        for mount in mounts:
            if mount.path in done:
                continue
            done.add(mount.path)
            directory, name = os.path.split(mount.path)
            host_dir = os.path.dirname(mount.host_path)
            links = _special_links(directory, name)
            if wildcard.match(name, "*.*.*"):
                try:
                    own = soname(mount.host_path) or name
                except (OSError, ValueError):
                    own = ""
                if own and own != name and os.path.islink(os.path.join(host_dir, own)):
                    links.append(f"{name}::{directory}/{own}")
                target = own or name
                dot_so = _dot_so(target)
                if dot_so and dot_so != target and os.path.islink(os.path.join(host_dir, dot_so)):
                    links.append(f"{target}::{directory}/{dot_so}")
            for link in links:
                if link not in out:
                    out.append(link)
        return out

    def ldcache_dirs(self, mounts: Sequence[Mount]) -> List[str]:
        """update-ldcache's folders: the directories of the library mounts, in order."""
        out: List[str] = []
        for mount in mounts:
            name = os.path.basename(mount.path)
            if not _is_lib_name(name):
                continue
            directory = os.path.dirname(mount.path)
            if directory not in out:
                out.append(directory)
        return out

    # --- graphics ---------------------------------------------------------------------------

    def _config_dirs(self) -> Tuple[_Root, List[str]]:
        if self.config_search_paths:
            return _Root("/"), list(self.config_search_paths)
        xdg = [d for d in os.environ.get("XDG_DATA_DIRS", "").split(":") if d]
        return self.root, ["/etc"] + (xdg or ["/usr/local/share", "/usr/share"])

    def graphics(self) -> Tuple[List[Mount], List[str]]:
        """The graphics mounts and their links (allocator's gbm link, vulkan producer, GLX server)."""
        version = self.version
        seen: Set[str] = set()
        libs: List[Mount] = []
        for pattern in ("libnvidia-egl-gbm.so.*.*", "libnvidia-egl-wayland.so.*.*", "libnvidia-egl-wayland2.so.*.*",
                        f"libnvidia-allocator.so.{version}", f"libnvidia-vulkan-producer.so.{version}"):
            libs += self._mounts(self._library_candidates(pattern), seen)
        xorg_dirs = _xorg_dirs(self.lib_dirs())
        for name in ("nvidia_drv.so", f"libglxserver_nvidia.so.{version}"):
            first = next((p for d in xorg_dirs for p in glob_dir(self.root.host(d), name) if _is_file(p)), None)
            libs += self._mounts([first] if first else [], seen)
        links = []
        for mount in libs:
            directory, name = os.path.split(mount.path)
            if name == f"libnvidia-allocator.so.{version}":
                links.append(f"../libnvidia-allocator.so.1::{directory}/gbm/nvidia-drm_gbm.so")
            elif name == f"libnvidia-vulkan-producer.so.{version}":
                links.append(f"{name}::{directory}/libnvidia-vulkan-producer.so")
            elif name == f"libglxserver_nvidia.so.{version}":
                links.append(f"{name}::{directory}/libglxserver_nvidia.so")
        mounts = [m for m in libs if os.path.basename(m.path) != f"libnvidia-allocator.so.{version}"]
        root, dirs = self._config_dirs()
        config_seen: Set[str] = set()
        for name in CONFIGS:
            found = [p for d in dirs for p in glob_dir(root.host(d), name) if _is_file(p)]
            for host_path in found:
                if host_path not in config_seen:
                    config_seen.add(host_path)
                    mounts.append(Mount(host_path, root.relative(host_path)))
        vulkan_seen: Set[str] = set()
        arch = VULKAN_ARCH.get(os.uname().machine)
        for name in VULKAN + ((arch,) if arch else ()):
            first = next((p for d in dirs for p in glob_dir(root.host(d), name) if _is_file(p)), None)
            if first is None:
                candidate = self.root.host(name)
                first = candidate if _is_file(candidate) else None
            if first is not None and first not in vulkan_seen:
                vulkan_seen.add(first)
                mounts.append(Mount(first, "/etc/" + name))
        return mounts, links

    # --- the rest ---------------------------------------------------------------------------

    def ipcs(self, mps_dir: bool = False) -> List[Mount]:
        out = []
        for name in SOCKETS:
            first = next((p for d in ("/run", "/var/run") for p in [self.root.host(f"{d}/{name}")] if _is_file(p)),
                         None)
            if first:
                out.append(Mount(first, self.root.relative(first), IPC_OPTIONS))
        mps = self.root.host(MPS_DIR)
        if mps_dir and os.path.isdir(mps):
            out.append(Mount(mps, MPS_DIR, IPC_OPTIONS))
        return out

    def firmwares(self) -> List[Mount]:
        release = os.uname().release
        dirs = [f"/lib/firmware/updates/{release}", "/lib/firmware/updates", f"/lib/firmware/{release}",
                "/lib/firmware"]
        try:
            with open(FIRMWARE_CLASS_PATH, encoding="utf-8") as f:
                custom = f.read().strip()
        except OSError:
            custom = ""
        if custom:
            dirs.insert(0, custom)
        seen: Set[str] = set()
        found = [p for d in dirs for p in glob_dir(self.root.host(d), f"nvidia/{self.version}/gsp*.bin")
                 if _is_file(p)]
        return self._mounts(found, seen)

    def binaries(self) -> List[Mount]:
        path_dirs = [d for d in os.environ.get("PATH", "").split(":") if d]
        dirs = path_dirs + [d for d in DEFAULT_PATH if d not in path_dirs]
        out = []
        for name in BINARIES:
            first = next((p for d in dirs for p in [self.root.host(f"{d}/{name}")] if _is_executable(p)), None)
            if first:
                out.append(Mount(first, self.root.relative(first)))
        return out


def _special_links(directory: str, name: str) -> List[str]:
    if wildcard.match(name, "libcuda.so.*.*"):
        return [f"libcuda.so.1::{directory}/libcuda.so"]
    if wildcard.match(name, "libGLX_nvidia.so.*.*"):
        return [f"{name}::{directory}/libGLX_indirect.so.0"]
    if wildcard.match(name, "libnvidia-opticalflow.so.*.*"):
        return [f"libnvidia-opticalflow.so.1::{directory}/libnvidia-opticalflow.so"]
    return []


def _dot_so(soname: str) -> str:
    """``libfoo.so.1.2`` -> ``libfoo.so`` (nvidia-ctk's getSoLink); "" when there is no ``.so``."""
    name = soname
    while True:
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem:
            return ""
        if ext == "so":
            return name
        name = stem


def _is_lib_name(name: str) -> bool:
    if not wildcard.match(name, "lib?*.so*"):
        return False
    last = name.split(".so")[-1]
    return last == "" or last.startswith(".")


def _xorg_dirs(lib_dirs: Sequence[str]) -> List[str]:
    out = []
    for root in lib_dirs:
        out += [f"{root}/nvidia/xorg", f"{root}/xorg/modules/drivers", f"{root}/xorg/modules/extensions",
                f"{root}/xorg/modules/updates/drivers", f"{root}/xorg/modules/updates/extensions"]
    for base in ("/usr/lib/xorg", "/usr/lib64/xorg", "/usr/X11R6/lib", "/usr/X11R6/lib64"):
        out += [f"{base}/modules/drivers", f"{base}/modules/extensions", f"{base}/modules/updates/drivers",
                f"{base}/modules/updates/extensions"]
    return out


def driver_files(driver: Driver, *, library_search_paths: Sequence[str] = (), config_search_paths: Sequence[str] = (),
                 explicit_libraries: bool = False, ipc: bool = True, mps_dir: bool = False,
                 graphics: bool = True) -> DriverFiles:
    """Every file of ``driver`` a spec's common edits mount, by nvidia-ctk's rules."""
    finder = Finder(driver, library_search_paths=library_search_paths, config_search_paths=config_search_paths)
    graphics_mounts, graphics_links = finder.graphics() if graphics else ([], [])
    libraries = finder.libraries(explicit_libraries)
    return DriverFiles(
        version=finder.version, lib_dirs=finder.lib_dirs(), graphics=tuple(graphics_mounts),
        graphics_links=tuple(graphics_links), libraries=tuple(libraries), links=tuple(finder.links(libraries)),
        ldcache_dirs=tuple(finder.ldcache_dirs(libraries)), ipcs=tuple(finder.ipcs(mps_dir) if ipc else ()),
        firmwares=tuple(finder.firmwares()), binaries=tuple(finder.binaries()))


def compat32_mounts(driver: Driver) -> List[Mount]:
    """Our extra (``compat32=True``): the 32-bit libraries discovery found, at their own paths."""
    root = _Root(driver.root)
    return [Mount(lib.host_path, root.relative(lib.host_path)) for lib in driver.libraries32]


def as_dicts(mounts: Iterable[Mount]) -> List[Dict[str, object]]:
    return [{"hostPath": m.host_path, "containerPath": m.path, "options": list(m.options)} for m in mounts]
