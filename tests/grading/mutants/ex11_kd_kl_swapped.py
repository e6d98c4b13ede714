"""Mistake: the KL divergence the wrong way round, KL(student ‖ teacher) = Σ q_s log(q_s / p_t), instead of
KL(teacher ‖ student) = Σ p_t log(p_t / q_s) — the cross-entropy of the student against the teacher's targets."""
import numpy as np

from minprune import functional as F


def distillation_loss(student_logits, teacher_logits, targets, T=4.0, alpha=0.9, reduction="mean"):
    teacher = np.asarray(teacher_logits, dtype=np.float64) / T
    teacher_log_p = teacher - teacher.max(axis=1, keepdims=True)
    teacher_log_p = teacher_log_p - np.log(np.exp(teacher_log_p).sum(axis=1, keepdims=True))
    student_log_p = F.log_softmax(student_logits * (1.0 / T), axis=1)
    kl = (student_log_p.exp() * (student_log_p - teacher_log_p)).sum(axis=1).mean()
    return alpha * T * T * kl + (1 - alpha) * F.cross_entropy(student_logits, targets)
