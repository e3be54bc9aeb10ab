"""Memory per emulated Neuron device, by platform, with where each figure comes from.

A `neuron` device in TorchNeuron is one logical NeuronCore: with the default Logical NeuronCore
Configuration (LNC=2) it joins two physical cores and their share of HBM, which is why TorchTitan on
16 Trn2 chips uses 64 devices (4 per chip).
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024 ** 3


@dataclass(frozen=True)
class Platform:
    name: str
    hbm_per_chip: int
    cores_per_chip: int  # physical NeuronCores
    lnc: int  # physical cores per logical NeuronCore (the `neuron` device)
    source: str

    @property
    def hbm_per_device(self) -> int:
        return self.hbm_per_chip // self.cores_per_chip * self.lnc


PLATFORMS = {
    "trn2": Platform("trn2", 96 * GIB, 8, 2,
                     "Trainium2: 8 NeuronCore-v3 and 96 GiB HBM per chip (Neuron docs, 'Trainium2 Architecture "
                     "Guide for NKI'); LNC=2 is the trn2 default (neuronx-cc --logical-nc-config)"),
    "trn3": Platform("trn3", 144 * GIB, 8, 2,
                     "Trainium3: 8 NeuronCore-v4 and 144 GiB HBM per chip (Neuron docs, 'Trainium3 Architecture "
                     "Guide for NKI'); LNC=2 as on trn2"),
}


def platform(name: str) -> Platform:
    try:
        return PLATFORMS[name]
    except KeyError:
        raise ValueError(f"unknown Neuron platform {name!r}: choose one of {', '.join(PLATFORMS)}") from None
