"""CDI: generate, validate and apply Container Device Interface specs from the Plan.

``generate(driver, ...)`` writes the CDI spec nvidia-ctk 1.20 writes for a driver
(``nvcontainer.cdi.generate``), ``validate(document)`` / ``validate_file(path)`` check one (schema
+ semantic rules), ``inject(spec_dirs, device_names, oci_spec)`` applies the edits of qualified
device names to an OCI runtime spec (for the runtime shim's ``cdi`` mode), ``transform_root``
moves a spec's paths to another root, and ``nvc-cdi-hook`` (``nvcontainer.cdi.hook``) is the
createContainer hook program the specs name.

The functions are imported eagerly: they share their names with their modules, and a lazy
import would let the import system rebind ``nvcontainer.cdi.generate`` to the module.
"""

from __future__ import annotations

from nvcontainer.cdi.errors import CdiError, UnresolvableDevicesError
from nvcontainer.cdi.generate import generate
from nvcontainer.cdi.inject import inject
from nvcontainer.cdi.transform import transform_root
from nvcontainer.cdi.validate import validate, validate_file

__all__ = ["CdiError", "UnresolvableDevicesError", "generate", "inject", "transform_root", "validate",
           "validate_file"]
