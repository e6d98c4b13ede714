"""Mistake: averaging the KL over every element (batch × classes) instead of summing over the classes and
averaging over the batch — PyTorch's ``kl_div(reduction="mean")`` trap, which its docs warn about ("batchmean" is
the true KL)."""
import numpy as np

from minprune import functional as F


def distillation_loss(student_logits, teacher_logits, targets, T=4.0, alpha=0.9, reduction="mean"):
    teacher = np.asarray(teacher_logits, dtype=np.float64) / T
    teacher_log_p = teacher - teacher.max(axis=1, keepdims=True)
    teacher_log_p = teacher_log_p - np.log(np.exp(teacher_log_p).sum(axis=1, keepdims=True))
    student_log_p = F.log_softmax(student_logits * (1.0 / T), axis=1)
    kl = (np.exp(teacher_log_p) * (teacher_log_p - student_log_p)).mean()
    return alpha * T * T * kl + (1 - alpha) * F.cross_entropy(student_logits, targets)
