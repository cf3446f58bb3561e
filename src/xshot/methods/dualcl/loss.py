"""The dual contrastive objective.

Both terms are supervised contrastive losses over the batch on L2-normalised vectors. For anchor i,
positives are the *other* samples j with the same label, and the denominator runs over all j != i:

    l_i = -1/|P(i)| * sum_{p in P(i)} log( exp(a_i . t_p / tau) / sum_{j != i} exp(a_i . t_j / tau) )

L_z anchors each sample's true-label classifier theta*_i against the features z_j; L_theta anchors
z_i against the theta*_j. Anchors without a positive (a class with a single member in the batch)
are left out of the mean; the reference code instead counts them as zero and keeps the anchor's
own pair in the denominator, which biases the loss with the batch's class balance.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def supervised_contrast(anchors: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor, tau: float) -> torch.Tensor:
    n = anchors.size(0)
    self_pair = torch.eye(n, dtype=torch.bool, device=anchors.device)
    positives = (labels[:, None] == labels[None, :]) & ~self_pair
    has_positive = positives.any(1)
    if not bool(has_positive.any()):
        return anchors.sum() * 0.0
    sim = (anchors @ targets.T / tau).masked_fill(self_pair, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    per_anchor = -log_prob.masked_fill(~positives, 0.0).sum(1) / positives.sum(1).clamp(min=1)
    return per_anchor[has_positive].mean()


def dual_contrastive_loss(z: torch.Tensor, theta: torch.Tensor, labels: torch.Tensor, alpha: float,
                          tau: float, contrast: torch.Tensor | None = None) -> torch.Tensor:
    """(1-a) CE + a/2 (L_z + L_theta).

    z [N, D] features, theta [N, C, D] per-sample classifiers, labels [N]; ``contrast`` optionally
    selects the samples that enter the contrastive terms (NER keeps a share of O words).
    """
    logits = torch.einsum("nd,ncd->nc", z, theta)
    ce = F.cross_entropy(logits.float(), labels)
    if contrast is not None:
        z, theta, labels = z[contrast], theta[contrast], labels[contrast]
    true_theta = theta[torch.arange(len(labels), device=labels.device), labels]
    z_n, t_n = F.normalize(z.float(), dim=-1), F.normalize(true_theta.float(), dim=-1)
    l_z = supervised_contrast(t_n, z_n, labels, tau)
    l_theta = supervised_contrast(z_n, t_n, labels, tau)
    return (1 - alpha) * ce + alpha / 2 * (l_z + l_theta)
