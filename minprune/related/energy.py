"""An *estimate* of inference energy, to put numbers on the seed's "lower power consumption" (§2, §12).

Energy per operation in a 45 nm process (Horowitz, "Computing's energy problem", ISSCC 2014, as tabulated
by Han et al. 2016):

| operation | energy (pJ) |
|---|---|
| 32-bit float multiply / add | 3.7 / 0.9 |
| 8-bit integer multiply / add | 0.2 / 0.03 |
| 32-bit SRAM read (8 KB) | 5 |
| 32-bit DRAM read | 640 |

Estimate = MACs · (multiply + add) + weight reads + activation reads. Weights are read once per inference,
from on-chip SRAM if the stored model fits in ``sram_bytes``, else from DRAM — which is why compression that
moves a model on-chip saves far more than the arithmetic it removes. Activations (each layer's input and
output) are read/written from SRAM. Memory costs scale with the bits per value. A teaching model, not a
measurement: real chips differ in every constant.
"""
from __future__ import annotations

from dataclasses import dataclass

PJ = {"fp32_mult": 3.7, "fp32_add": 0.9, "int8_mult": 0.2, "int8_add": 0.03, "sram_32bit": 5.0, "dram_32bit": 640.0}


@dataclass
class EnergyEstimate:
    compute_pj: float
    weights_pj: float
    activations_pj: float
    weights_in_dram: bool

    @property
    def total_pj(self) -> float:
        return self.compute_pj + self.weights_pj + self.activations_pj

    def __str__(self):
        where = "DRAM" if self.weights_in_dram else "SRAM"
        return (f"energy estimate (45 nm, Horowitz 2014): {self.total_pj / 1e6:.3f} µJ per inference — compute "
                f"{self.compute_pj / 1e6:.3f}, weight reads from {where} {self.weights_pj / 1e6:.3f}, "
                f"activations {self.activations_pj / 1e6:.3f} µJ")


def energy_estimate(model, input_shape, bits: int = 32, stored_bytes: int | None = None,
                    sram_bytes: int = 512 * 1024, sparse: bool = True) -> EnergyEstimate:
    """Estimated energy of one forward pass of ``input_shape`` (batch included, e.g. (1, 1, 28, 28)).

    ``bits`` 32 (float) or 8 (int8 arithmetic and memory); ``stored_bytes``: the model's stored size (default
    its dense size at ``bits``; pass ``metrics.model_size_bytes(model, "csr")`` or a deployed file's size);
    ``sparse``: count only MACs with non-zero weights (a sparse accelerator such as EIE skips zeros).
    """
    from ..metrics import flops, inference_arrays

    if bits not in (8, 32):
        raise ValueError(f"energy_estimate: bits must be 8 or 32, got {bits}")
    count = flops(model, input_shape)
    macs = count.sparse if sparse else count.dense
    kind = "int8" if bits == 8 else "fp32"
    compute = macs * (PJ[f"{kind}_mult"] + PJ[f"{kind}_add"])
    arrays = inference_arrays(model)
    stored = sum(a.size for a in arrays.values()) * bits // 8 if stored_bytes is None else stored_bytes
    in_dram = stored > sram_bytes
    words = stored / 4                                     # 32-bit words read
    weights = words * PJ["dram_32bit" if in_dram else "sram_32bit"]
    activation_values = sum(_prod(layer.output_shape) for layer in count.layers.values()) + _prod(input_shape)
    activations = 2 * activation_values * PJ["sram_32bit"] * bits / 32
    return EnergyEstimate(compute, weights, activations, in_dram)


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out
