"""Laser inter-satellite link budget (free-space optics) and propagation delay."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray

from orbits.errors import OrbitsError

__all__ = ["LinkParams", "LINK_TECHNOLOGIES", "SPEED_OF_LIGHT_M_S", "laser_rate_per_watt", "laser_rate_bps",
           "link_rate_per_watt", "link_rate_bps", "propagation_delay_s"]

#: Crosslink technologies: "optical" (the free-space-optics monomial, capped) or "rf" (a fixed-rate radio).
LINK_TECHNOLOGIES = ("optical", "rf")

SPEED_OF_LIGHT_M_S = 299_792_458.0
_PLANCK_J_S = 6.626_070_15e-34


@dataclass(frozen=True)
class LinkParams:
    """ISL feasibility and laser budget parameters; defaults follow the Fed-Span design document.

    Attributes:
        wavelength_m: laser wavelength (1550 nm).
        max_tx_power_w: transmit power limit per terminal (2 W); `rate_bps` of snapshots uses it.
        aperture_diameter_m: telescope diameter D of both terminals (10 cm); gain G = (pi D / lambda)^2.
        efficiency: optical efficiency of each of the transmitter and the receiver (0.5).
        pointing_loss_db: pointing loss (3 dB).
        photons_per_bit: receiver sensitivity N_b (50 photons/bit).
        max_rate_bps: terminal rate cap (10 Gbit/s).
        max_distance_km: d_max of a feasible link (5000 km).
        clearance_km: the link segment must stay this far above the Earth's equatorial radius (80 km).
        terminals: terminals per satellite M_n (4), the degree limit of the aggregation tree.
        technology: "optical" (rate from the FSO budget above, capped) or "rf" (the rate is `max_rate_bps`
            at `max_tx_power_w` anywhere within `max_distance_km`, linear in the power below it).
        terminal_power_w: electrical power of one terminal while its link is active, beyond the transmit power
            (0: the paper's model, transmit power only). Every transfer keeps two terminals busy.
        acquisition_s: time to acquire a link that was not up in the previous round (pointing, acquisition and
            tracking for optical terminals; 0: links come up instantly).
        packet_bits: the unit a relaying satellite forwards (bits): it adds its children's models and passes
            the sum on packet by packet (0: whole models, store and forward, the paper's model).
    """

    wavelength_m: float = 1550e-9
    max_tx_power_w: float = 2.0
    aperture_diameter_m: float = 0.10
    efficiency: float = 0.5
    pointing_loss_db: float = 3.0
    photons_per_bit: float = 50.0
    max_rate_bps: float = 10e9
    max_distance_km: float = 5000.0
    clearance_km: float = 80.0
    terminals: int = 4
    technology: str = "optical"
    terminal_power_w: float = 0.0
    acquisition_s: float = 0.0
    packet_bits: float = 0.0

    def __post_init__(self) -> None:
        if self.technology not in LINK_TECHNOLOGIES:
            raise OrbitsError(f"LinkParams.technology must be one of {', '.join(LINK_TECHNOLOGIES)}, "
                              f"got {self.technology!r}")
        for field in fields(self):
            if field.name == "technology":
                continue
            value = getattr(self, field.name)
            nonnegative = field.name in ("pointing_loss_db", "clearance_km", "terminal_power_w", "acquisition_s",
                                         "packet_bits")
            if not math.isfinite(value) or value < 0 or (value == 0 and not nonnegative):
                raise OrbitsError(f"LinkParams.{field.name} must be a finite {'non-negative' if nonnegative else 'positive'} number, got {value!r}")
        if not 0 < self.efficiency <= 1:
            raise OrbitsError(f"LinkParams.efficiency must be in (0, 1], got {self.efficiency}")
        if int(self.terminals) != self.terminals:
            raise OrbitsError(f"LinkParams.terminals must be an integer, got {self.terminals!r}")

    @property
    def antenna_gain(self) -> float:
        """Diffraction-limited telescope gain (pi D / lambda)^2, linear."""
        return (math.pi * self.aperture_diameter_m / self.wavelength_m) ** 2

    @property
    def photon_energy_j(self) -> float:
        """Energy of one photon h c / lambda."""
        return _PLANCK_J_S * SPEED_OF_LIGHT_M_S / self.wavelength_m


def _distance_m(distance_km: ArrayLike) -> NDArray[np.float64]:
    """Distances in metres; non-positive or non-finite distances are a caller bug worth naming."""
    distance = np.asarray(distance_km, dtype=np.float64) * 1e3
    if np.any(~np.isfinite(distance)) or np.any(distance <= 0):
        raise OrbitsError("link distances must be finite and positive (km)")
    return distance


def laser_rate_per_watt(distance_km: ArrayLike, params: LinkParams = LinkParams()) -> NDArray[np.float64]:
    """Uncapped FSO rate per watt of transmit power (bit/s/W): rate = coef * P_tx, a monomial in d.

    The link budget is Friis' transmission formula with diffraction-limited telescopes [2]_ and a
    photon-counting receiver that needs N_b photons per bit [3]_, as in the Fed-Span design [1]_:
    ``P_rx = P_tx * eta^2 * G^2 * L_point * (lambda / (4 pi d))^2`` with ``G = (pi D / lambda)^2``, and
    ``rate = P_rx / (N_b * h c / lambda)``. The rate falls as ``d^-2``.

    Examples
    --------
    >>> r = laser_rate_per_watt([1000.0, 2000.0])
    >>> round(float(r[0] / r[1]), 6)  # twice the distance, a quarter of the rate
    4.0

    References
    ----------
    .. [1] Graph Theory Meets Federated Learning over Satellite Constellations,
       arXiv:2509.24932, 2025.
    .. [2] H. T. Friis, "A note on a simple transmission formula", Proceedings of the IRE 34(5),
       254-256, 1946.
    .. [3] H. Kaushal and G. Kaddoum, "Optical communication in space: challenges and mitigation
       techniques", IEEE Communications Surveys & Tutorials 19(1), 57-96, 2017.
    """
    distance = _distance_m(distance_km)
    pointing = 10.0 ** (-params.pointing_loss_db / 10.0)
    free_space = (params.wavelength_m / (4.0 * math.pi * distance)) ** 2
    received_per_watt = params.efficiency**2 * params.antenna_gain**2 * pointing * free_space
    return received_per_watt / (params.photon_energy_j * params.photons_per_bit)


def laser_rate_bps(distance_km: ArrayLike, tx_power_w: ArrayLike, params: LinkParams = LinkParams()) -> NDArray:
    """Laser link rate (bit/s) at the given transmit power, capped at the terminal maximum.

    The uncapped rate is :func:`laser_rate_per_watt` times the power.

    >>> laser_rate_bps([1000.0, 5000.0], [0.0, 2.0]) / 1e9  # Gbit/s; the 10 Gbit/s cap binds at 2 W
    array([ 0., 10.])
    """
    power = np.asarray(tx_power_w, dtype=np.float64)
    if np.any(power < 0) or np.any(~np.isfinite(power)):
        raise OrbitsError("transmit power must be finite and non-negative (W)")
    return np.minimum(laser_rate_per_watt(distance_km, params) * power, params.max_rate_bps)


def link_rate_per_watt(distance_km: ArrayLike, params: LinkParams = LinkParams()) -> NDArray[np.float64]:
    """Uncapped rate per watt of transmit power (bit/s/W) of the configured link technology.

    Optical links follow :func:`laser_rate_per_watt`. An RF crosslink is modelled as a fixed-rate modem: it
    reaches `max_rate_bps` at `max_tx_power_w` anywhere within range (its link budget closes with margin; e.g.
    Iridium's 23 GHz crosslinks, CubeSat S-band radios), and the rate scales with the power below that.

    >>> p = LinkParams(technology="rf", max_rate_bps=1e6, max_tx_power_w=10.0)
    >>> link_rate_per_watt([500.0, 4000.0], p).tolist()  # 1 Mbit/s at 10 W at any range
    [100000.0, 100000.0]
    """
    if params.technology == "optical":
        return laser_rate_per_watt(distance_km, params)
    distance = _distance_m(distance_km)
    return np.full(distance.shape, params.max_rate_bps / params.max_tx_power_w)


def link_rate_bps(distance_km: ArrayLike, tx_power_w: ArrayLike, params: LinkParams = LinkParams()) -> NDArray:
    """Link rate (bit/s) of the configured technology at the given transmit power, capped (W in, bit/s out)."""
    power = np.asarray(tx_power_w, dtype=np.float64)
    if np.any(power < 0) or np.any(~np.isfinite(power)):
        raise OrbitsError("transmit power must be finite and non-negative (W)")
    return np.minimum(link_rate_per_watt(distance_km, params) * power, params.max_rate_bps)


def propagation_delay_s(distance_km: ArrayLike) -> NDArray[np.float64]:
    """One-way light-time d / c in seconds.

    >>> round(float(propagation_delay_s(1000.0)) * 1e3, 4)  # ms over 1000 km
    3.3356
    """
    return np.asarray(distance_km, dtype=np.float64) * 1e3 / SPEED_OF_LIGHT_M_S
