"""A small VGG-style CNN for 32x32 RGB images."""

import torch
import torch.nn as nn


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(3, width),
            conv_bn_relu(width, width),
            nn.MaxPool2d(2),                      # 16x16
            conv_bn_relu(width, 2 * width),
            nn.MaxPool2d(2),                      # 8x8
            conv_bn_relu(2 * width, 2 * width),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.1),
            nn.Linear(2 * width, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return SmallCNN().eval()


def example_inputs() -> tuple:
    g = torch.Generator().manual_seed(0)
    return (torch.randn(4, 3, 32, 32, generator=g),)
