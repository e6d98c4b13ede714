"""Importance criteria: scores with each weight's shape, higher = keep, keyed ``(module, "weight")``.

    from minprune.prune import criteria
    scores = criteria.taylor(model, loader)                       # any criterion …
    prune.global_unstructured(list(scores), prune.L1Unstructured, importance_scores=scores, amount=0.8)

One file per family, as the course teaches them: ``magnitude`` (|w|, norms, LAMP, FPGM, BN scale),
``gradient`` (gradient, Taylor, SNIP, GraSP, SynFlow), ``hessian`` (HVP, Hutchinson, Fisher, OBD, OBS,
SparseGPT), ``information`` (entropy, mutual information, APoZ), ``activation`` (Wanda, mean activation).
"""
from .activation import activation_mean, input_norms, wanda, wanda_scores
from .common import batches, capture, gradients, weight_layers, weight_value
from .gradient import gradient, grasp, snip, synflow, synflow_prune, taylor, taylor_filter, taylor_scores
from .hessian import (fisher_diagonal, hutchinson, hutchinson_diagonal, hvp, layer_hessian, layerwise_obs, obd, obd_saliency,
                      obs_prune_rows, obs_update, reconstruction_error, sparsegpt)
from .information import (activation_entropy, apoz, apoz_scores, entropy_scores, mutual_information,
                          mutual_information_scores)
from .magnitude import (batchnorm_producers, bn_scale, fpgm, fpgm_scores, group_scores, lamp, lamp_scores,
                        magnitude, norm, random, slimming_loss)
