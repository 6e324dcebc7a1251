"""Forward and backward of one packed layer of K members, each of C = 8
channels on a batch of 64 28x28 maps (the powered study's first cells),
channels-last, 1 thread, on the PyTorch of the project's venv: what packing
K members into one layer costs per member, layer by layer
(docs/performance.md, "Packed replicates"). A 1x1 convolution grouped by
member, a depthwise 3x3 over all K x C channels, a training-mode BatchNorm
over them, a ReLU.

Usage: .venv/bin/python bench/packed_ops.py"""
import time

import torch


def milliseconds(step, repeats=20):
    step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats * 1e3


def main():
    torch.set_num_threads(1)
    batch, channels, side = 64, 8, 28
    print("K  per member, ms (forward + backward): pointwise  depthwise  batchnorm  relu")
    for pack in [1, 2, 4, 8]:
        x = torch.randn(batch, pack * channels, side, side).contiguous(memory_format=torch.channels_last)
        x.requires_grad_()
        layers = {
            "pointwise": torch.nn.Conv2d(pack * channels, pack * channels, 1, groups=pack, bias=False),
            "depthwise": torch.nn.Conv2d(pack * channels, pack * channels, 3, padding=1, groups=pack * channels,
                                         bias=False),
            "batchnorm": torch.nn.BatchNorm2d(pack * channels),
            "relu": torch.nn.ReLU(),
        }
        times = []
        for layer in layers.values():
            layer.to(memory_format=torch.channels_last)

            def step(layer=layer):
                layer(x).sum().backward()

            times.append(milliseconds(step) / pack)
        print(f"{pack}  " + "  ".join(f"{t:9.2f}" for t in times))


if __name__ == "__main__":
    main()
