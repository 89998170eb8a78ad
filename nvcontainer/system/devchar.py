"""``/dev/char/MAJOR:MINOR`` links to the NVIDIA device nodes (``create-dev-char-symlinks``).

systemd re-applies a container's device rules on ``daemon-reload`` by the ``/dev/char`` paths of
its devices; the NVIDIA nodes made by nvidia-modprobe or mknod have no such link, so the container
loses them ("Failed to initialize NVML: Unknown Error").  As nvidia-ctk: one link per node,
``/dev/char/195:0 -> /dev/nvidia0``, for the nodes that exist, or with ``create_all`` for every
node the driver can have (``nodes.all_possible``).

Differences, each on purpose: the nodes are looked for under the driver root (nvidia-ctk's
``--driver-root`` only steers module loading), and a link inside that root points at the node's
path as seen from the root (``/dev/nvidia0``), one outside it at the host path; a link already
there that leads to the right device (udev's ``../nvidia0``) is kept, a link that does not (stale,
dangling) is replaced -- nvidia-ctk warns and leaves it, and the error stays -- and anything that
is not a link is left alone with a warning.  If a link cannot be made, the links made by this run
are removed again.
"""

from __future__ import annotations

import os
import stat

from nvcontainer.atomicfile import replace_symlink
from nvcontainer.records import Record
from nvcontainer.system import SetupError
from nvcontainer.system.nodes import Node, all_possible, existing

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Optional

DEV_CHAR = "/dev/char"


class CharLink(Record):
    node: Node
    link: str  # host path of the link
    target: str  # what the link says
    action: str  # "create", "keep", "replace" or "skip" (not a link: left alone)
    current: Optional[str] = None  # what an existing link says


def default_dev_char_path(root: str) -> str:
    return os.path.join(os.path.abspath(root), DEV_CHAR.lstrip("/"))


def _inside(path: str, root: str) -> bool:
    root = os.path.abspath(root)
    return root == "/" or os.path.commonpath([os.path.abspath(path), root]) == root


def _leads_to(link: str, node: Node) -> bool:
    try:
        st = os.stat(link)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (node.major, node.minor)


def plan(root: str = "/", dev_char_path: Optional[str] = None, create_all: bool = False) -> List[CharLink]:
    """The links to make for the nodes under ``root`` (nothing is changed)."""
    root = os.path.abspath(root)
    directory = os.path.abspath(dev_char_path or default_dev_char_path(root))
    inside = _inside(directory, root)
    nodes = all_possible(root) if create_all else existing(root)
    links: List[CharLink] = []
    for node in nodes:
        link = os.path.join(directory, node.dev_char_name)
        target = node.path if inside else os.path.join(root, node.path.lstrip("/"))
        if not os.path.lexists(link):
            links.append(CharLink(node, link, target, "create"))
            continue
        if not os.path.islink(link):
            links.append(CharLink(node, link, target, "skip"))
            continue
        current = os.readlink(link)
        # Resolved where it lives: inside the root, /dev/nvidia0 means <root>/dev/nvidia0.
        resolved = _resolve_inside(root, link) if inside and root != "/" else link
        keep = current == target or (resolved is not None and _leads_to(resolved, node))
        links.append(CharLink(node, link, target, "keep" if keep else "replace", current))
    return links


def _resolve_inside(root: str, link: str) -> Optional[str]:
    from nvcontainer.errors import NvcError
    from nvcontainer.securepath import join_in_root

    try:
        return join_in_root(root, "/" + os.path.relpath(link, root))
    except NvcError:
        return None


def apply(links: List[CharLink]) -> None:
    """Make the links ``plan`` chose (replacing stale ones atomically); all or none of the new ones."""
    if not any(link.action in ("create", "replace") for link in links):
        return
    directory = os.path.dirname(links[0].link)
    made: List[str] = []
    where = directory
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        for link in links:
            where = link.link
            if link.action == "create":
                os.symlink(link.target, link.link)
                made.append(link.link)
            elif link.action == "replace":
                replace_symlink(link.target, link.link)
    except OSError as exc:
        for path in made:
            try:
                os.unlink(path)
            except OSError:
                pass
        raise SetupError(f"cannot create link {where}: {(exc.strerror or str(exc)).lower()}") from None
