"""Soft and hard attention as in Show, Attend and Tell (Xu et al., 2015), on lecture 4's visual attention model.

Soft attention reads the weighted average of all regions' values, and backpropagation trains it. Hard attention
reads ONE region, drawn with probability equal to its weight (`course_lib.models.hard_attention`): no gradient
reaches the weights through the draw, so Xu et al. train it with REINFORCE: raise the log-probability of the
draws that led to a low loss. `reinforce_gradient` is that estimator for one draw over K places.
"""

from __future__ import annotations

import torch

from course_lib.models.attention import scaled_dot_product_attention
from course_lib.models.hard_attention import hard_attend
from course_lib.models.visual_attention import ColourQueries, VisualAttention


def _weights_and_values(model: VisualAttention, images: torch.Tensor, words: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """The soft weights (B, 1, h*w) and the regions' values (B, h*w, d): the steps of VisualAttention.attend."""
    regions = (model.features(images) + model.position).flatten(2).transpose(1, 2)  # (B, h*w, d)
    values = model.value(regions)
    _, weights = scaled_dot_product_attention(model.word(words)[:, None, :], model.key(regions), values)
    return weights, values


@torch.no_grad()
def hard_visual_attention(model: VisualAttention, images: torch.Tensor, words: torch.Tensor,
                          generator: torch.Generator | None = None, greedy: bool = False
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's class scores (B, n_classes) when it reads ONE region per question, drawn from its soft weights
    (the argmax when greedy), and the picks (B, h, w), one-hot."""
    weights, values = _weights_and_values(model, images, words)
    picked, one_hot = hard_attend(weights, values, generator=generator, greedy=greedy)  # (B, 1, d), (B, 1, h*w)
    return model.head(picked[:, 0]), one_hot[:, 0].reshape(-1, *model.grid)


def reinforce_gradient(logits: torch.Tensor, costs: torch.Tensor, n_draws: int,
                       generator: torch.Generator | None = None, baseline: float = 0.0) -> torch.Tensor:
    """REINFORCE's estimate of d E[cost] / d logits for one place drawn from softmax(logits) (K,), costs (K,):
    the mean over n_draws of (cost of the draw - baseline) * d log p(draw) / d logits."""
    logits = logits.detach().requires_grad_()
    log_p = torch.log_softmax(logits, dim=-1)  # (K,)
    draws = torch.multinomial(log_p.exp().detach(), n_draws, replacement=True, generator=generator)  # (n_draws,)
    surrogate = ((costs[draws] - baseline) * log_p[draws]).mean()  # its gradient is the estimate
    return torch.autograd.grad(surrogate, logits)[0]


@torch.no_grad()
def hard_attention_accuracy(model: VisualAttention, queries: ColourQueries, draws: int = 5, seed: int = 0
                            ) -> dict[str, float]:
    """Shape accuracy with soft attention (as trained), with one region drawn per question (mean of `draws`
    draws), and with the argmax region: {'soft', 'sampled', 'argmax'}. The CNN runs once."""
    device = next(model.parameters()).device
    weights, values = _weights_and_values(model, queries.images.to(device), queries.words.to(device))
    shapes, generator = queries.shapes.to(device), torch.Generator(device=device).manual_seed(seed)

    def accuracy(read: torch.Tensor) -> float:  # read (Q, 1, d): what each question took from the regions
        return (model.head(read[:, 0]).argmax(-1) == shapes).float().mean().item()

    sampled = [accuracy(hard_attend(weights, values, generator=generator)[0]) for _ in range(draws)]
    return {"soft": accuracy(weights @ values), "sampled": sum(sampled) / draws,
            "argmax": accuracy(hard_attend(weights, values, greedy=True)[0])}
