"""A residual MLP regressor with no device assumptions."""

import torch
import torch.nn as nn


class ResidualBlock(nn.Module):
    def __init__(self, dim: int, expansion: int = 2):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, dim * expansion)
        self.act = nn.SiLU()
        self.down = nn.Linear(dim * expansion, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(self.act(self.up(self.norm(x))))


class PortableMLP(nn.Module):
    def __init__(self, in_features: int = 16, hidden: int = 48, out_features: int = 4, depth: int = 3):
        super().__init__()
        self.inp = nn.Linear(in_features, hidden)
        self.blocks = nn.Sequential(*(ResidualBlock(hidden) for _ in range(depth)))
        self.head = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.inp(x)))


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return PortableMLP().eval()


def example_inputs() -> tuple:
    g = torch.Generator().manual_seed(0)
    return (torch.randn(8, 16, generator=g),)
