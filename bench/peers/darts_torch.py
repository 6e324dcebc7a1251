"""cellscape's DARTS evaluation network in plain PyTorch (torch.nn), built from a
cellscape checkpoint, and the evaluation images cellscape's Objective uses.

This is the "twin" the peer benchmarks (bench/peers/peer_bench.py) run PyHessian
and a loss-landscape-style loop on, so that they see the same function as
`cellscape hessian` / `cellscape surface`: the same modules, parameter and
buffer names, BatchNorm settings and images. It mirrors, one to one:

- libanalysis/cellscape/nn/network.cpp: stem (3x3 conv to 3C, BatchNorm), L cells
  with reductions at layers L//3 and 2L//3 (channels doubled there), cell
  preprocessing (FactorizedReduce after a reduction cell, else ReLU-1x1-BN),
  node = sum of its two edges, output = concat of the concat nodes, optional
  auxiliary head after cell 2L//3 (training only), global average pooling,
  linear classifier;
- libanalysis/cellscape/nn/operations.cpp: the edge operations (every
  BatchNorm is LibTorch's default: affine, eps 1e-5, momentum 0.1, running
  statistics tracked; convolutions have no bias; average pooling excludes
  the padding; FactorizedReduce's second branch sees the input shifted by
  one pixel through negative padding, padded at the far edge for odd sizes);
- libanalysis/cellscape/data/dataset.cpp and analysis/objective.cpp: the
  training subset (seeded randperm), pixels / 255 in float32, per-channel
  normalization with the subset's float64 mean and population standard
  deviation applied in float32, then the first N (sequential) samples of the
  split, cast to the Objective's dtype.

cellscape computes the same function faster (BatchNorm folded into the
convolution in eval mode, channels-last layouts, its own convolution
derivatives: detail/fast_paths.hpp); those change rounding, not the function.
Drop path acts only in training and is off here (the twin is for analysis).

Usage:
    net = load_checkpoint("runs/x/epoch-0001.h5")            # eval mode, float32
    images, labels = evaluation_images("runs/x/epoch-0001.h5", samples=256)
"""
import ast
import gzip
import json
import os

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OPERATIONS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
              "dil_conv_3x3", "dil_conv_5x5", "sep_conv_7x7", "conv_7x1_1x7")
DEFAULT_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


# ---------------------------------------------------------------- genotype

def parse_genotype(text):
    """The DARTS text form cellscape writes (checkpoint attribute `genotype`):
    Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[...]).
    Returns {"normal": [(op, source), ...], "normal_concat": [...], "reduce": ..., "reduce_concat": ...}."""
    text = text.strip()
    if "=" in text.split("(", 1)[0]:  # "NAME = Genotype(...)"
        text = text.split("=", 1)[1].strip()
    call = ast.parse(text, mode="eval").body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise ValueError(f"not a Genotype(...) expression: {text[:80]}")
    fields = ["normal", "normal_concat", "reduce", "reduce_concat"]
    values = {}
    for field, node in zip(fields, call.args):
        values[field] = node
    for keyword in call.keywords:
        if keyword.arg not in fields:
            raise ValueError(f"unknown Genotype field {keyword.arg!r}")
        values[keyword.arg] = keyword.value
    genotype = {}
    for field in fields:
        if field not in values:
            raise ValueError(f"the genotype has no {field}")
        node = values[field]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
            genotype[field] = list(range(*[ast.literal_eval(a) for a in node.args]))
        else:
            genotype[field] = [tuple(e) if isinstance(e, (list, tuple)) else e for e in ast.literal_eval(node)]
    for cell in ("normal", "reduce"):
        edges = genotype[cell]
        if not edges or len(edges) % 2:
            raise ValueError(f"the {cell} cell needs an even, non-zero number of edges")
        for index, (op, source) in enumerate(edges):
            if op not in OPERATIONS:
                raise ValueError(f"unknown operation {op!r}")
            if not 0 <= source < 2 + index // 2:
                raise ValueError(f"edge {index} of the {cell} cell reads node {source}, not an earlier node")
    return genotype


# ---------------------------------------------------------------- operations

def batch_norm(channels):
    # LibTorch's BatchNorm2dOptions defaults, which cellscape keeps: eps 1e-5,
    # momentum 0.1, affine, track_running_stats (PyTorch's defaults too; spelled
    # out so a change on either side is visible here).
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)


def conv(in_channels, out_channels, kernel, stride=1, padding=0, dilation=1, groups=1):
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding, dilation=dilation,
                     groups=groups, bias=False)


class ReLUConvBN(nn.Module):
    """ReLU, convolution, BatchNorm (the cell preprocessing): `op.1`, `op.2`."""

    def __init__(self, in_channels, out_channels, kernel, stride, padding):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False), conv(in_channels, out_channels, kernel, stride, padding),
                                batch_norm(out_channels))

    def forward(self, x):
        return self.op(x)


class SequentialOperation(nn.Module):
    """An edge operation whose computation is the Sequential `op`."""

    def __init__(self, *modules):
        super().__init__()
        self.op = nn.Sequential(*modules)

    def forward(self, x):
        return self.op(x)


def separable_convolution(c, kernel, stride):
    # Twice (ReLU, depthwise kxk, pointwise 1x1, BN); the stride on the first depthwise only.
    padding = kernel // 2
    return SequentialOperation(nn.ReLU(), conv(c, c, kernel, stride, padding, 1, c), conv(c, c, 1), batch_norm(c),
                               nn.ReLU(), conv(c, c, kernel, 1, padding, 1, c), conv(c, c, 1), batch_norm(c))


def dilated_convolution(c, kernel, stride):
    # ReLU, depthwise kxk with dilation 2 and padding k-1, pointwise 1x1, BN.
    return SequentialOperation(nn.ReLU(), conv(c, c, kernel, stride, kernel - 1, 2, c), conv(c, c, 1), batch_norm(c))


def factorized_7x7(c, stride):
    return SequentialOperation(nn.ReLU(), conv(c, c, (1, 7), (1, stride), (0, 3)),
                               conv(c, c, (7, 1), (stride, 1), (3, 0)), batch_norm(c))


class FactorizedReduce(nn.Module):
    """ReLU, two stride-2 1x1 convolutions to C/2 each (the second on the input
    shifted by one pixel), concatenated, BN. cellscape shifts by negative
    padding and pads the far edge by one for odd sizes, so odd sides give
    ceil(side/2) in both branches (the DARTS code's x[:, :, 1:, 1:] would not)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        if out_channels % 2:
            raise ValueError(f"a factorized reduce needs an even channel count, got {out_channels}")
        self.relu = nn.ReLU(inplace=False)  # a module, as in the DARTS code: hooks on ReLU modules see it
        self.conv_1 = conv(in_channels, out_channels // 2, 1, 2, 0)
        self.conv_2 = conv(in_channels, out_channels // 2, 1, 2, 0)
        self.bn = batch_norm(out_channels)

    def forward(self, x):
        x = self.relu(x)
        shifted = F.pad(x, (-1, x.size(3) % 2, -1, x.size(2) % 2))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class Pooling(nn.Module):
    def __init__(self, kind, stride):
        super().__init__()
        self.kind, self.stride = kind, stride

    def forward(self, x):
        if self.kind == "max":
            return F.max_pool2d(x, 3, stride=self.stride, padding=1)
        return F.avg_pool2d(x, 3, stride=self.stride, padding=1, count_include_pad=False)


class Identity(nn.Module):
    def forward(self, x):
        return x


class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


def make_edge_operation(op, channels, stride):
    if op == "none":
        return Zero(stride)
    if op == "max_pool_3x3":
        return Pooling("max", stride)
    if op == "avg_pool_3x3":
        return Pooling("avg", stride)
    if op == "skip_connect":
        return Identity() if stride == 1 else FactorizedReduce(channels, channels)
    if op.startswith("sep_conv_"):
        return separable_convolution(channels, int(op[-1]), stride)
    if op.startswith("dil_conv_"):
        return dilated_convolution(channels, int(op[-1]), stride)
    if op == "conv_7x1_1x7":
        return factorized_7x7(channels, stride)
    raise ValueError(f"unknown operation {op!r}")


# ---------------------------------------------------------------- network

class Cell(nn.Module):
    def __init__(self, edges, concat, channels_before_previous, previous_channels, channels, reduction,
                 previous_was_reduction):
        super().__init__()
        if previous_was_reduction:
            self.preprocess0 = FactorizedReduce(channels_before_previous, channels)
        else:
            self.preprocess0 = ReLUConvBN(channels_before_previous, channels, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(previous_channels, channels, 1, 1, 0)
        self.ops = nn.ModuleList()
        self.sources = []
        for op, source in edges:
            stride = 2 if reduction and source < 2 else 1
            self.ops.append(make_edge_operation(op, channels, stride))
            self.sources.append(source)
        self.concat = list(concat)
        self.channels = channels
        self.drop_path = 0.0  # cellscape drops paths only while training; the twin is for analysis

    @property
    def output_channels(self):
        return self.channels * len(self.concat)

    def forward(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(len(self.ops) // 2):
            total = None
            for k in (2 * node, 2 * node + 1):
                h = self.ops[k](states[self.sources[k]])
                if self.training and self.drop_path > 0.0 and not isinstance(self.ops[k], Identity):
                    keep = 1.0 - self.drop_path
                    h = h.div(keep).mul(torch.bernoulli(torch.full((h.size(0), 1, 1, 1), keep, dtype=h.dtype,
                                                                   device=h.device)))
                total = h if total is None else total + h
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    def __init__(self, channels, height, width, classes):
        super().__init__()

        def side_after(side):
            return (side - 5) // 3 if side >= 5 else 0

        if side_after(height) < 1 or side_after(width) < 1:
            raise ValueError(f"the auxiliary head needs feature maps of at least 8x8, got {height}x{width}")
        self.features = nn.Sequential(nn.ReLU(), nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
                                      conv(channels, 128, 1), batch_norm(128), nn.ReLU(), conv(128, 768, 2),
                                      batch_norm(768), nn.ReLU())
        self.classifier = nn.Linear(768 * side_after(height) * side_after(width), classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def reduced_size(size):
    return (size - 1) // 2 + 1


class DartsNetwork(nn.Module):
    """cellscape's DartsNetwork (nn/network.cpp). forward() returns the main
    classifier's logits; the auxiliary head (if any) is used only by
    forward_with_auxiliary in training mode."""

    def __init__(self, genotype, init_channels, layers, classes, input_shape, auxiliary=False):
        super().__init__()
        if init_channels < 2 or init_channels % 2:
            raise ValueError(f"init_channels must be even and at least 2, got {init_channels}")
        stem_channels = 3 * init_channels
        self.stem = nn.Sequential(conv(input_shape[0], stem_channels, 3, 1, 1), batch_norm(stem_channels))
        self.cells = nn.ModuleList()
        before_previous, previous, channels = stem_channels, stem_channels, init_channels
        height, width = input_shape[1], input_shape[2]
        previous_was_reduction = False
        self.auxiliary_after_cell = -1
        for layer in range(layers):
            reduction = layer in (layers // 3, 2 * layers // 3)
            if reduction:
                channels *= 2
                height, width = reduced_size(height), reduced_size(width)
            kind = "reduce" if reduction else "normal"
            cell = Cell(genotype[kind], genotype[kind + "_concat"], before_previous, previous, channels, reduction,
                        previous_was_reduction)
            self.cells.append(cell)
            before_previous, previous = previous, cell.output_channels
            previous_was_reduction = reduction
            if auxiliary and layer == 2 * layers // 3:
                self.auxiliary_head = AuxiliaryHead(previous, height, width, classes)
                self.auxiliary_after_cell = layer
        self.classifier = nn.Linear(previous, classes)

    def set_drop_path(self, probability):
        for cell in self.cells:
            cell.drop_path = probability

    def forward_with_auxiliary(self, x):
        s0 = s1 = self.stem(x)
        auxiliary_logits = None
        for layer, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if self.training and layer == self.auxiliary_after_cell and hasattr(self, "auxiliary_head"):
                auxiliary_logits = self.auxiliary_head(s1)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1)), auxiliary_logits

    def forward(self, x):
        return self.forward_with_auxiliary(x)[0]

    def drop_auxiliary_head(self):
        """What cellscape analyses (analysis/model.cpp): the classifier without the head."""
        if hasattr(self, "auxiliary_head"):
            del self.auxiliary_head
        self.auxiliary_after_cell = -1


# ---------------------------------------------------------------- checkpoint

def _attribute(file, name):
    value = file.attrs[name]
    return value.decode() if isinstance(value, bytes) else value


def read_checkpoint_config(path):
    """(genotype dict, network config dict, training config dict) from a cellscape checkpoint."""
    with h5py.File(path, "r") as f:
        if _attribute(f, "format") != "cellscape-checkpoint":
            raise ValueError(f"{path} is not a cellscape checkpoint (format {_attribute(f, 'format')!r})")
        genotype = parse_genotype(_attribute(f, "genotype"))
        network = json.loads(_attribute(f, "network_config"))
        training = json.loads(_attribute(f, "training_config"))
    return genotype, network, training


def load_strict(module, tensors, kind):
    """Copies every tensor of `tensors` (name -> numpy array) into the module's
    parameters (kind "parameters") or buffers (kind "buffers"); raises unless
    the names and shapes match one to one. No partial loads."""
    targets = dict(module.named_parameters() if kind == "parameters" else module.named_buffers())
    missing = sorted(set(targets) - set(tensors))
    unexpected = sorted(set(tensors) - set(targets))
    if missing or unexpected:
        raise ValueError(f"{kind} do not match the network: missing from the checkpoint {missing[:8]}"
                         f"{' ...' if len(missing) > 8 else ''} ({len(missing)}), not in the network "
                         f"{unexpected[:8]}{' ...' if len(unexpected) > 8 else ''} ({len(unexpected)})")
    with torch.no_grad():
        for name, target in targets.items():
            value = torch.from_numpy(np.asarray(tensors[name]))
            if tuple(value.shape) != tuple(target.shape):
                raise ValueError(f"{kind[:-1]} {name}: checkpoint shape {tuple(value.shape)}, network "
                                 f"{tuple(target.shape)}")
            if value.dtype.is_floating_point != target.dtype.is_floating_point:
                raise ValueError(f"{kind[:-1]} {name}: checkpoint dtype {value.dtype}, network {target.dtype}")
            target.copy_(value)


def _read_group(f, group):
    tensors = {}
    if group in f:
        for name, dataset in f[group].items():
            if not isinstance(dataset, h5py.Dataset):
                raise ValueError(f"{group}/{name} is not a dataset")
            tensors[name] = dataset[()]
    return tensors


def load_checkpoint(path, dtype=torch.float32, keep_auxiliary=False):
    """The twin of the checkpoint's network with every parameter and buffer
    loaded (strictly, by name), in eval mode, in `dtype`. The auxiliary head
    is loaded and checked too, then dropped unless keep_auxiliary (cellscape
    analyses the classifier alone)."""
    genotype, config, _ = read_checkpoint_config(path)
    net = DartsNetwork(genotype, config["init_channels"], config["layers"], config["classes"],
                       config["input_shape"], config["auxiliary"])
    with h5py.File(path, "r") as f:
        load_strict(net, _read_group(f, "parameters"), "parameters")
        load_strict(net, _read_group(f, "buffers"), "buffers")
    if not keep_auxiliary:
        net.drop_auxiliary_head()
    return net.to(dtype).eval()


# ---------------------------------------------------------------- data

def fnv1a64(data):
    """cellscape's provenance hash (util/hash.hpp) of raw bytes, "fnv1a64:%016x"."""
    state = 1469598103934665603
    for byte in bytes(data):
        state = ((state ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"fnv1a64:{state:016x}"


def _read_idx(path, dims):
    with gzip.open(path, "rb") as f:  # cellscape reads through zlib, which also passes plain files
        raw = f.read()
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or raw[3] != dims:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes with {dims} dimensions")
    shape = [int.from_bytes(raw[4 + 4 * d:8 + 4 * d], "big") for d in range(dims)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated or corrupt")
    return torch.from_numpy(data.reshape(shape).copy())


def _fashion_mnist(directory, prefix):
    images = _read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"), 3)
    labels = _read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz"), 1).to(torch.int64)
    return images.unsqueeze(1), labels


def choose_subset(total, count, seed):
    """data/dataset.cpp choose_subset: all indices for count 0 (or total), else
    the first `count` of a randperm from a CPU generator seeded with `seed`, sorted."""
    if count < 0 or count > total:
        raise ValueError(f"subset of {count} from {total} samples")
    if count in (0, total):
        return torch.arange(total, dtype=torch.int64)
    generator = torch.Generator()
    generator.manual_seed(seed)
    permutation = torch.randperm(total, generator=generator, dtype=torch.int64)
    return permutation[:count].sort().values


def load_dataset(training_config):
    """The run's dataset as cellscape's load_dataset builds it: dict with train
    and test (images float32 normalized, labels int64), indices, mean, std."""
    spec = training_config["dataset"]
    kind, _, argument = spec.partition(":")
    if kind != "fashion-mnist":
        raise NotImplementedError(f"the twin reads fashion-mnist only, not {spec!r}")
    directory = argument or DEFAULT_FASHION_MNIST
    train_images, train_labels = _fashion_mnist(directory, "train")
    test_images, test_labels = _fashion_mnist(directory, "t10k")
    seed = int(training_config["seed"])
    train_indices = choose_subset(train_images.shape[0], int(training_config["train_size"]), seed)
    test_indices = choose_subset(test_images.shape[0], int(training_config["test_size"]),
                                 seed ^ 0x9E3779B97F4A7C15)  # another stream, as cellscape
    train = train_images.index_select(0, train_indices).to(torch.float32).div_(255.0)
    test = test_images.index_select(0, test_indices).to(torch.float32).div_(255.0)
    # Per-channel statistics of the training subset, in float64; population std.
    as_channels = train.transpose(0, 1).flatten(1).to(torch.float64)
    mean = as_channels.mean(1)
    std = as_channels.std(1, unbiased=False).clamp_min(1e-8)
    for images in (train, test):
        images.sub_(mean.to(torch.float32).view(1, -1, 1, 1)).div_(std.to(torch.float32).view(1, -1, 1, 1))
    return {"train": (train, train_labels.index_select(0, train_indices)),
            "test": (test, test_labels.index_select(0, test_indices)),
            "train_indices": train_indices, "test_indices": test_indices, "mean": mean, "std": std}


def evaluation_images(checkpoint, samples, split="train", dtype=torch.float32, check_hash=True):
    """The images and labels of `--checkpoint CHECKPOINT --samples N --sampling
    sequential --split SPLIT`: the first N samples (0: all) of the run's split,
    normalized as in training, cast to `dtype` (cellscape's --dtype: float32
    images cast to float64, not renormalized in float64)."""
    _, _, training = read_checkpoint_config(checkpoint)
    data = load_dataset(training)
    if check_hash:
        with h5py.File(checkpoint, "r") as f:
            recorded = _attribute(f, "train_indices_hash" if split == "train" else "test_indices_hash")
        indices = data[f"{split}_indices"]
        if recorded != "none" and fnv1a64(indices.numpy().astype("<i8").tobytes()) != recorded:
            raise ValueError(f"the {split} subset the twin chose does not hash to the checkpoint's {recorded}")
    images, labels = data[split]
    count = samples if samples > 0 else images.shape[0]
    if count > images.shape[0]:
        raise ValueError(f"{samples} samples asked for but the {split} split has {images.shape[0]}")
    return images[:count].to(dtype).contiguous(), labels[:count].clone()
