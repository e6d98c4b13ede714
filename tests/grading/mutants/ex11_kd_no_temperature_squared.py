"""Mistake: leaving out the T² factor of the soft term. Softening by T scales the soft term's gradient by 1/T²,
so without T² the teacher's signal fades as the temperature rises (Hinton et al. 2015, §2)."""
import numpy as np

from minprune import functional as F


def distillation_loss(student_logits, teacher_logits, targets, T=4.0, alpha=0.9, reduction="mean"):
    teacher = np.asarray(teacher_logits, dtype=np.float64) / T
    teacher_log_p = teacher - teacher.max(axis=1, keepdims=True)
    teacher_log_p = teacher_log_p - np.log(np.exp(teacher_log_p).sum(axis=1, keepdims=True))
    student_log_p = F.log_softmax(student_logits * (1.0 / T), axis=1)
    kl = (np.exp(teacher_log_p) * (teacher_log_p - student_log_p)).sum(axis=1).mean()
    return alpha * kl + (1 - alpha) * F.cross_entropy(student_logits, targets)
