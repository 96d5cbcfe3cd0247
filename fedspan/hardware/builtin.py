"""The built-in hardware profiles: ``paper``, ``cubesat``, ``smallsat-edge``, ``broadband``, ``iridium-rf``.

Pure data: every number comes from ``/work/shared/design/physical-params.md`` or the Fed-Span design defaults;
``docs/physical-model.md`` lists each one with its source key and solidity.
"""

from __future__ import annotations

from optimization.problem import (DESIGN_CAPACITANCE, DESIGN_CYCLES_PER_SAMPLE, DESIGN_MAX_CPU_HZ,
                                  DESIGN_MIN_CPU_HZ)
from orbits.links import LinkParams

from fedspan.hardware.profiles import ComputeSpec, HardwareProfile, LinkSpec, PowerSpec

# ----------------------------------------------------------------------------------------------------
# Built-in profiles. Source keys S<n> are physical-params.md's; H<n> were checked for this module
# and D1 is the Fed-Span design (docs/physical-model.md, "Sources"). Solidity of each number: see the docs' profile tables.
# ----------------------------------------------------------------------------------------------------

_PAPER_MAX_HZ = DESIGN_MAX_CPU_HZ
_PAPER_CAPACITANCE = DESIGN_CAPACITANCE
_DEFAULT_LINK = LinkParams()
#: A relaying satellite forwards the sum packet by packet: one CCSDS Space Packet at most, 65 536 octets of data
#: field (C1: CCSDS 133.0-B-2, Space Packet Protocol). The paper profile keeps whole models, store and forward.
_SPACE_PACKET_BITS = 65536 * 8

# The design document's abstract CPU: 1e7 cycles per sample and C = 1e-28 F whatever the model, no
# static power. busy_power_w is what that capacitance draws at 1.5 GHz, 0.5 C f^3 = 0.16875 W, and
# peak_flops (1 FLOP per cycle at full utilisation) is only there to make the record complete: the
# fixed cycles ignore it.
_PAPER = HardwareProfile(
    name="paper",
    description="Fed-Span design defaults: abstract 1.5 GHz CPU, 10 Gbit/s lasers, always powered",
    compute=ComputeSpec(
        name="Fed-Span design CPU (abstract)",
        peak_flops=_PAPER_MAX_HZ,
        utilisation=1.0,
        max_clock_hz=_PAPER_MAX_HZ,
        min_clock_hz=DESIGN_MIN_CPU_HZ,
        idle_power_w=0.0,
        busy_power_w=0.5 * _PAPER_CAPACITANCE * _PAPER_MAX_HZ**3,
        fixed_cycles_per_sample=DESIGN_CYCLES_PER_SAMPLE,
        fixed_capacitance=_PAPER_CAPACITANCE,
    ),
    link=LinkSpec(
        name="Fed-Span design laser terminal",
        technology="optical",
        max_rate_bps=_DEFAULT_LINK.max_rate_bps,
        max_distance_km=_DEFAULT_LINK.max_distance_km,
        max_tx_power_w=_DEFAULT_LINK.max_tx_power_w,
        aperture_m=_DEFAULT_LINK.aperture_diameter_m,
        terminal_power_w=0.0,
        acquisition_s=0.0,
        terminals=_DEFAULT_LINK.terminals,
    ),
    power=None,
    link_policy="knn",
    sources=("D1",),
)

_CUBESAT = HardwareProfile(
    name="cubesat",
    description="6U CubeSat: Jetson Nano (10 W mode), 1 Mbit/s S-band crosslinks, 20 W array, 77 Wh battery",
    compute=ComputeSpec(
        name="NVIDIA Jetson Nano (10 W mode)",
        peak_flops=128 * 2 * 921.6e6,  # 235.9 GFLOPS FP32: 128 CUDA cores x 2 FLOP (FMA) x 921.6 MHz
        utilisation=0.10,
        max_clock_hz=921.6e6,
        min_clock_hz=640e6,  # the 5 W mode's GPU clock
        idle_power_w=1.5,
        busy_power_w=10.0,
    ),
    link=LinkSpec(
        name="S-band crosslink radio (1 Mbit/s, 10 W)",
        technology="rf",
        max_rate_bps=1e6,
        max_distance_km=1000.0,
        max_tx_power_w=2.0,  # RF output; UHF/S CubeSat radios give 1-2.5 W RF
        aperture_m=0.0,
        terminal_power_w=8.0,  # 10 W electrical per link in total with the 2 W RF output
        acquisition_s=1.0,
        terminals=4,
        packet_bits=_SPACE_PACKET_BITS,
    ),
    power=PowerSpec(array_w=20.0, bus_w=5.0, battery_wh=77.0, max_depth_of_discharge=0.20),
    link_policy="knn",
    sources=("S1", "S10", "S42", "S43", "H1"),
)

_SMALLSAT_EDGE = HardwareProfile(
    name="smallsat-edge",
    description="50-150 kg smallsat: Jetson Orin NX 16GB (25 W), SDA-class 2.5 Gbit/s lasers, 150 W array, 300 Wh",
    compute=ComputeSpec(
        name="NVIDIA Jetson Orin NX 16GB (25 W mode)",
        peak_flops=1024 * 2 * 918e6,  # 1.88 TFLOPS FP32
        utilisation=0.15,
        max_clock_hz=918e6,
        # The clock at which the cubic power model draws the 10 W mode: (10-4)/(25-4) = (f/918)^3.
        min_clock_hz=918e6 * ((10.0 - 4.0) / (25.0 - 4.0)) ** (1.0 / 3.0),
        idle_power_w=4.0,
        busy_power_w=25.0,
    ),
    link=LinkSpec(
        name="SDA-class optical terminal (2.5 Gbit/s)",
        technology="optical",
        max_rate_bps=2.5e9,
        max_distance_km=5000.0,
        max_tx_power_w=2.0,
        aperture_m=0.10,
        terminal_power_w=48.0,  # 50 W electrical per terminal including the 2 W optical output
        acquisition_s=60.0,
        terminals=4,
        packet_bits=_SPACE_PACKET_BITS,
    ),
    power=PowerSpec(array_w=150.0, bus_w=40.0, battery_wh=300.0, max_depth_of_discharge=0.25),
    link_policy="knn",
    sources=("S4", "S6", "S11", "S33", "S34", "S36", "H2", "H3"),
)

_BROADBAND = HardwareProfile(
    name="broadband",
    description="Broadband-constellation satellite: AGX Orin 64GB (60 W), 100 Gbit/s lasers on the +Grid, 3 kW array",
    compute=ComputeSpec(
        name="NVIDIA Jetson AGX Orin 64GB (MAXN, 60 W)",
        peak_flops=2048 * 2 * 1.3e9,  # 5.32 TFLOPS FP32
        utilisation=0.20,
        max_clock_hz=1.3e9,
        # The clock at which the cubic power model draws the 15 W mode: (15-5)/(60-5) = (f/1.3 GHz)^3.
        min_clock_hz=1.3e9 * ((15.0 - 5.0) / (60.0 - 5.0)) ** (1.0 / 3.0),
        idle_power_w=5.0,
        busy_power_w=60.0,
    ),
    link=LinkSpec(
        name="Starlink-class laser terminal (100 Gbit/s)",
        technology="optical",
        max_rate_bps=100e9,
        max_distance_km=5400.0,
        # With the design's 10 cm telescopes the photon-counting budget gives 17.2 Gbit/s per watt at
        # 5400 km, so 6 W reaches the 100 Gbit/s cap over the whole reported range.
        max_tx_power_w=6.0,
        aperture_m=0.10,
        terminal_power_w=69.0,  # 75 W electrical per terminal including the 6 W optical output
        acquisition_s=10.0,
        terminals=4,
        packet_bits=_SPACE_PACKET_BITS,
    ),
    power=PowerSpec(array_w=3000.0, bus_w=1500.0, battery_wh=3000.0, max_depth_of_discharge=0.30),
    link_policy="grid",
    sources=("S5", "S10", "S11", "S30", "S32", "S36", "H4"),
)

_IRIDIUM = HardwareProfile(
    name="iridium-rf",
    description="Iridium-class bus (2 kW array): rad-hard GR740 computer, four 23 GHz 10 Mbit/s crosslinks on the +Grid",
    compute=ComputeSpec(
        name="Cobham Gaisler GR740 (4x LEON4FT, 250 MHz)",
        peak_flops=4 * 250e6,  # 1 GFLOPS: 4 cores x 1 FLOP per cycle x 250 MHz
        utilisation=0.20,
        max_clock_hz=250e6,
        min_clock_hz=250e6,  # fixed clock: no DVFS
        idle_power_w=1.5,
        busy_power_w=3.0,
    ),
    link=LinkSpec(
        name="Iridium 23 GHz crosslink (10 Mbit/s)",
        technology="rf",
        max_rate_bps=10e6,
        # In-plane neighbours of an 11-satellite plane at 781 km are 4034 km apart (chord
        # 2 (R + h) sin(pi / 11)); cross-plane ones are closer, so 4500 km keeps every +Grid link.
        max_distance_km=4500.0,
        max_tx_power_w=3.0,
        aperture_m=0.0,
        terminal_power_w=20.0,
        acquisition_s=1.0,
        terminals=4,
        packet_bits=_SPACE_PACKET_BITS,
    ),
    power=PowerSpec(array_w=2000.0, bus_w=1000.0, battery_wh=2000.0, max_depth_of_discharge=0.30),
    link_policy="grid",
    sources=("S17", "S30", "S41", "H5", "H6"),
)

PROFILES: dict[str, HardwareProfile] = {p.name: p for p in (_PAPER, _CUBESAT, _SMALLSAT_EDGE, _BROADBAND, _IRIDIUM)}
