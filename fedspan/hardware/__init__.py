"""Hardware description layer: named satellite profiles (compute, links, power), training FLOPs, fleets.

Pure data and functions; the scenario and the CLI turn them into the optimizer's per-satellite arrays.
See ``docs/physical-model.md`` for every number, its source and how solid it is.
"""

from fedspan.hardware.builtin import PROFILES
from fedspan.hardware.profile_file import hardware_profile
from fedspan.hardware.profiles import ComputeSpec, HardwareError, HardwareProfile, LinkSpec, PowerSpec

__all__ = [
    "PROFILES",
    "ComputeSpec",
    "HardwareError",
    "HardwareProfile",
    "LinkSpec",
    "PowerSpec",
    "hardware_profile",
]
