"""``minprune.prune``: the pruning toolkit, with ``torch.nn.utils.prune``'s API and more.

    from minprune import prune
    prune.l1_unstructured(model.fc1, "weight", amount=0.3)   # as PyTorch
    prune.remove(model.fc1, "weight")                         # make it permanent
    small, report = prune.compact(model)                      # structured zeros → a smaller dense model
"""
from .base import (BasePruningMethod, PruningContainer, is_pruned, load_pruned_state_dict, nparams_to_prune, remove,
                   smallest_k,
                   validate_amount)
from .unstructured import (CustomFromMask, Identity, L1Unstructured, RandomUnstructured, ThresholdUnstructured,
                           custom_from_mask, global_magnitude_threshold, global_unstructured, identity,
                           l1_unstructured, magnitude_mask, random_unstructured, threshold_mask,
                           threshold_unstructured)
from .structured import (LnStructured, RandomStructured, channel_norms, global_structured, ln_structured,
                         ln_structured_mask, prunable_parameters, prune_channels, prune_filters, prune_model,
                         prune_neurons, random_structured)
from .patterns import BlockUnstructured, NMStructured, block_mask, block_unstructured, nm_mask, nm_structured
from .compact import compact, compact_pair
from .layers import block_importance, drop_layers, preserves_shape, residual_blocks
from . import criteria
from .schedules import (ConstantSparsity, Linear, OneShot, PolynomialDecay, Pruner, PruningSchedule, Steps,
                        iterative_prune, prune_to_sparsity, sensitivity_scan)
from .dynamic import (SET, DynamicSparseTraining, MovementPruning, RigL, WeightDrop, drop_and_grow,
                      erdos_renyi_densities, movement_score_update, weight_drop)
from .lottery import Checkpoint, imp_step, lottery_ticket, prune_at_init, random_reinit
from .graph import DependencyGraph, Group, Member, channel_indices
from .surgery import compact_graph, group_importance, make_permanent, structured_prune, zero_channels
from .layers import DEPTH_CRITERIA, angular_distance, depth_prune
from .llm import (attention_layers, gate_sensitivity, head_importance, magnitude_prune, one_shot_prune, perplexity, prune_heads,
                  prunable_projections, row_mask, sparsegpt_prune, wanda_mask, wanda_prune)
from .budget import fit_budget
