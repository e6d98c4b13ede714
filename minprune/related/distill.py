"""Knowledge distillation (the seed §14; Hinton, Vinyals & Dean 2015): train a small *student* to match a
large *teacher*'s softened output distribution, not only the labels. The teacher's "dark knowledge" — which
wrong classes it finds plausible — is a richer signal than one-hot targets. A pruned network can be
fine-tuned with its own dense version as the teacher.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import Tensor, no_grad
from ..train import fit


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def distillation_loss(student_logits: Tensor, teacher_logits, targets, T: float = 4.0, alpha: float = 0.9,
                      reduction: str = "mean") -> Tensor:
    """The distillation loss of Hinton et al. 2015:

        L = α · T² · KL( softmax(z_t / T) ‖ softmax(z_s / T) ) + (1 − α) · CE(z_s, y)

    The T² keeps the soft term's gradient on the same scale as the hard term's when T changes. The KL is
    averaged over the batch ("batchmean"), computed with stable log-softmaxes; the teacher is a constant.
    Shapes: student (N, C) Tensor, teacher (N, C) array, targets (N,) ints → a scalar Tensor.
    """
    # BEGIN SOLUTION
    if T <= 0 or not 0 <= alpha <= 1:
        raise ValueError(f"need T > 0 and alpha in [0, 1], got T={T}, alpha={alpha}")
    teacher = np.asarray(teacher_logits.data if isinstance(teacher_logits, Tensor) else teacher_logits)
    teacher_log_p = _log_softmax(teacher.astype(np.float64) / T).astype(student_logits.dtype)
    teacher_p = np.exp(teacher_log_p)
    student_log_p = F.log_softmax(student_logits * (1.0 / T), axis=1)
    kl = (teacher_p * (teacher_log_p - student_log_p)).sum(axis=1)
    kl = kl.mean() if reduction == "mean" else kl.sum()
    hard = F.cross_entropy(student_logits, targets, reduction=reduction)
    return alpha * T * T * kl + (1 - alpha) * hard
    # END SOLUTION


class _InputRecorder:
    """Forward pre-hook keeping the student's current input, so the loss can ask the teacher about it."""

    def __init__(self):
        self.x = None

    def __call__(self, module, inputs):
        self.x = inputs[0]


def distill(student, teacher, loader, optimizer, epochs: int = 1, T: float = 4.0, alpha: float = 0.9, **fit_kwargs):
    """Train ``student`` on ``loader`` with :func:`distillation_loss` against ``teacher`` (eval mode, no graph),
    built on ``train.fit``; returns its history. Evaluation inside ``fit`` reports the plain cross-entropy."""
    recorder = _InputRecorder()
    handle = student.register_forward_pre_hook(recorder)
    teacher.eval()

    def loss_fn(logits, y, reduction="mean"):
        if reduction != "mean":
            return F.cross_entropy(logits, y, reduction=reduction)
        with no_grad():
            teacher_logits = teacher(recorder.x).data
        return distillation_loss(logits, teacher_logits, y, T, alpha)

    try:
        return fit(student, loader, optimizer, epochs=epochs, loss_fn=loss_fn, **fit_kwargs)
    finally:
        handle.remove()
