"""The peer benchmark's roofline (bench/peers/peer_bench.py, part f): the work
and bytes it counts for each operation of a forward pass, against counts made
by hand for a convolution and a ReLU, and the sharing it credits cellscape
with (one ReLU per tensor read, batch norms folded)."""
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench" / "peers"))
import peer_bench  # noqa: E402


class TwoReadersOfOneMap(torch.nn.Module):
    """conv -> BatchNorm -> two ReLUs of the same tensor, summed: the shape of a DARTS state read by two edges."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.bn(self.conv(x))
        return torch.relu(y) + torch.relu(y)


def test_work_and_bytes_of_each_operation_are_counted_as_by_hand():
    net = TwoReadersOfOneMap().eval()
    x = torch.randn(5, 2, 6, 6)
    operations = peer_bench.forward_operations(net, [(x, None)])
    by_name = {}
    for name, flops, nbytes, reads in operations:
        by_name.setdefault(name, []).append((flops, nbytes, reads))
    # Convolution: 2 FLOPs per multiply-add, one per output element and kernel tap over the input channels;
    # bytes: input, weight and output once each, float32.
    (conv_flops, conv_bytes, _), = by_name["convolution"]
    assert conv_flops == 2 * (5 * 4 * 6 * 6) * (2 * 3 * 3)
    assert conv_bytes == 4 * (5 * 2 * 36 + 4 * 2 * 9 + 5 * 4 * 36)
    # Each ReLU reads and writes one 5x4x6x6 map and does no multiply-adds; both read the same tensor.
    relus = by_name["relu"]
    assert [(f, b) for f, b, _ in relus] == [(0, 2 * 4 * 5 * 4 * 36)] * 2
    assert relus[0][2] == relus[1][2]


def test_the_shared_bound_drops_batch_norms_and_repeated_relus(monkeypatch):
    # 1 GFLOP/s and 1 GB/s make the bound of each operation its larger count, in nanoseconds.
    monkeypatch.setattr(peer_bench, "machine_rates", lambda dtype: (1e9, 1e9))
    monkeypatch.setattr(peer_bench, "make_twin", lambda checkpoint, dtype, channels_last: TwoReadersOfOneMap().eval())

    class Args:
        checkpoint, batch_size, channels_last = None, 5, False

    x = torch.randn(5, 2, 6, 6)
    roofline = peer_bench.forward_roofline(Args, torch.float32, x, torch.zeros(5, dtype=torch.long))
    ops = roofline["operations"]
    conv = max(2 * (5 * 4 * 6 * 6) * (2 * 3 * 3), 4 * (5 * 2 * 36 + 4 * 2 * 9 + 5 * 4 * 36)) / 1e9
    relu = 2 * 4 * 5 * 4 * 36 / 1e9
    assert abs(roofline["convolution_bound_seconds"] - conv) < 1e-15
    assert abs(ops["relu"]["bound_seconds"] - 2 * relu) < 1e-15
    total = sum(op["bound_seconds"] for op in ops.values())
    shared = total - ops["native_batch_norm"]["bound_seconds"] - relu
    assert abs(roofline["all_operations_bound_seconds"] - total) < 1e-15
    assert abs(roofline["shared_operations_bound_seconds"] - shared) < 1e-15
