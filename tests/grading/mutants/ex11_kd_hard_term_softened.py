"""Mistake: computing the hard (label) cross-entropy on the softened logits z_s / T as well; the labels are
matched at temperature 1 (Hinton et al. 2015)."""
import numpy as np

from minprune import functional as F


def distillation_loss(student_logits, teacher_logits, targets, T=4.0, alpha=0.9, reduction="mean"):
    teacher = np.asarray(teacher_logits, dtype=np.float64) / T
    teacher_log_p = teacher - teacher.max(axis=1, keepdims=True)
    teacher_log_p = teacher_log_p - np.log(np.exp(teacher_log_p).sum(axis=1, keepdims=True))
    soft_student = student_logits * (1.0 / T)
    student_log_p = F.log_softmax(soft_student, axis=1)
    kl = (np.exp(teacher_log_p) * (teacher_log_p - student_log_p)).sum(axis=1).mean()
    return alpha * T * T * kl + (1 - alpha) * F.cross_entropy(soft_student, targets)
