"""Techniques that combine with pruning (the seed §14): quantization, knowledge distillation, low-rank
factorisation, architecture search, the Deep Compression pipeline, and an energy estimate."""
from . import deep_compression, distill, energy, lowrank, nas, quantize
