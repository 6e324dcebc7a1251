"""`cellscape proxies` against the zero-cost proxies' reference code, on the
same weights and the same batch: the initial weights of a `cellscape train`
run (epoch-0000.h5), loaded into the PyTorch twin of cellscape's DARTS network
(bench/peers/darts_torch.py).

The reference code cannot be vendored (nothing is copied into this
project) nor fetched in CI (no network beyond PyPI, where neither is
published), so each proxy's reference function is reimplemented below in
PyTorch and numpy as its authors' code computes it, step for step, and the
commit it follows is named:

- grad_norm, snip, grasp, synflow, jacob_cov: SamsungLabs/zero-cost-nas,
  commit a43bfbc90c1a02a81fb4397a5e096759e93fbe50,
  foresight/pruners/measures/*.py and predictive.py (find_measures sums each
  per-layer array over every nn.Conv2d and nn.Linear);
- fisher: the same commit, foresight/pruners/measures/fisher.py (each
  channel's value spread over its weights by p_utils.reshape_elements);
- zico: SLDGroup/ZiCo, commit b0fec65923a90e84501593f675b1e2f422d79e3d,
  ZeroShotProxy/compute_zico.py;
- naswot: BayesWatch/nas-without-training, commit
  b3a82a6642564df115f989ff940ec6b8ef9ca9d3, score_networks.py (the
  `hook_logdet` score: forward hooks on every ReLU module, counted once a
  backward pass has visited the module) and scores.py (hooklogdet).

The twin is in train mode, as the reference code finds a freshly built
network (BatchNorm on the batch's statistics); synflow runs on a copy whose
BatchNorm forward is the identity (zero-cost-nas's `bn=False` copy).
"""
import copy
import json
import pathlib
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench" / "peers"))
import darts_torch  # noqa: E402

SAMPLES = 32
ZICO_BATCHES = 2
PROXIES = ("grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov", "naswot", "zico")

# Tolerance, float64 on both sides. cellscape's network is the twin's function
# computed in another order (channels-last kernels, its own convolution
# derivatives; the twin test, test_peer_network.py, finds losses equal to
# 1e-11): every proxy here is a sum of products of one or two such
# derivatives, ~1e-13 relative. jacob_cov adds 1/(v + 1e-5) for eigenvalues v
# of a correlation matrix of rank at most N - 1, so eigenvalues near zero
# (errors ~1e-16 absolute) move a term of ~1e5 by ~1e-11 relative; ZiCo
# divides by per-element deviations of two batch gradients. 1e-8 leaves a
# wide margin over both, yet a formula changed in any way (a square for a
# norm, a missing sign, mean for sum, ddof=1, BatchNorm left in) moves the
# scores by far more (checked by mutation).
RTOL = 1e-8


# DARTS_V2 with average pooling in place of its reduction cell's max pooling.
# Fashion-MNIST's flat backgrounds make exactly tied values in max pooling's
# windows; the input gradient there goes to whichever tied element an
# implementation picks (PyTorch and cellscape pick differently), so jacob_cov,
# the one proxy built on input gradients, is a different subgradient on
# DARTS_V2 (3.5e-5 relative here) and is compared on this cell. The weight
# gradients do not depend on the pick (tied elements hold the same
# activations): every other proxy is compared on both.
AVERAGE_POOLING = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
                   "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
                   "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('avg_pool_3x3', 0), "
                   "('avg_pool_3x3', 1), ('skip_connect', 2), ('avg_pool_3x3', 1), ('avg_pool_3x3', 0), "
                   "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
CELLS = {"darts_v2": "DARTS_V2", "average_pooling": AVERAGE_POOLING}


@pytest.fixture(scope="module")
def checkpoints(cellscape, tmp_path_factory):
    out = {}
    for name, cell in CELLS.items():
        run = tmp_path_factory.mktemp(name)
        cellscape("train", "--cell", cell, "--dataset", "fashion-mnist", "--train-size", "128", "--test-size", "32",
                  "--batch-size", "32", "--init-channels", "4", "--layers", "3", "--epochs", "1", "--threads", "1",
                  "--seed", "11", "--checkpoint-epochs", "0", "--out", str(run))
        out[name] = run / "epoch-0000.h5"  # the initial weights, where NAS computes its proxies
    return out


@pytest.fixture(scope="module")
def checkpoint(checkpoints):
    return checkpoints["darts_v2"]


def layers(net):
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def twin(checkpoint):
    torch.set_num_threads(1)
    net = darts_torch.load_checkpoint(checkpoint, dtype=torch.float64).train()
    images, labels = darts_torch.evaluation_images(checkpoint, SAMPLES, dtype=torch.float64)
    return net, images, labels


# ------------------------------------------------------- reference functions

def reference_grad_norm(net, inputs, targets):
    net.zero_grad()
    F.cross_entropy(net(inputs), targets).backward()
    return sum(float(layer.weight.grad.norm()) if layer.weight.grad is not None else 0.0 for layer in layers(net))


def reference_snip(net, inputs, targets):
    net = copy.deepcopy(net)

    def conv_forward(self, x):
        return F.conv2d(x, self.weight * self.weight_mask, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def linear_forward(self, x):
        return F.linear(x, self.weight * self.weight_mask, self.bias)

    for layer in layers(net):
        layer.weight_mask = nn.Parameter(torch.ones_like(layer.weight))
        layer.weight.requires_grad = False
        layer.forward = types.MethodType(conv_forward if isinstance(layer, nn.Conv2d) else linear_forward, layer)
    net.zero_grad()
    F.cross_entropy(net(inputs), targets).backward()
    return sum(float(layer.weight_mask.grad.abs().sum()) for layer in layers(net) if layer.weight_mask.grad is not None)


def reference_grasp(net, inputs, targets):
    net = copy.deepcopy(net)
    weights = [layer.weight for layer in layers(net)]
    net.zero_grad()
    grad_w = list(torch.autograd.grad(F.cross_entropy(net(inputs), targets), weights, allow_unused=True))
    grad_f = torch.autograd.grad(F.cross_entropy(net(inputs), targets), weights, create_graph=True, allow_unused=True)
    z = 0
    for g, f in zip(grad_w, grad_f):
        if g is not None:
            z += (g.data * f).sum()
    z.backward()
    return sum(float((-layer.weight.data * layer.weight.grad).sum()) for layer in layers(net)
               if layer.weight.grad is not None)


def reference_fisher(net, inputs, targets):
    net = copy.deepcopy(net)

    def fisher_forward_conv2d(self, x):
        x = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        self.act = self.dummy(x)
        return self.act

    def fisher_forward_linear(self, x):
        x = F.linear(x, self.weight, self.bias)
        self.act = self.dummy(x)
        return self.act

    def hook_factory(layer):
        def hook(module, grad_input, grad_output):
            act = layer.act.detach()
            grad = grad_output[0].detach()
            if len(act.shape) > 2:
                g_nk = torch.sum((act * grad), list(range(2, len(act.shape))))
            else:
                g_nk = act * grad
            del_k = g_nk.pow(2).mean(0).mul(0.5)
            if layer.fisher is None:
                layer.fisher = del_k
            else:
                layer.fisher += del_k
            del layer.act
        return hook

    net.train()
    for layer in layers(net):
        layer.fisher = None
        layer.act = 0.
        layer.dummy = nn.Identity()
        layer.forward = types.MethodType(fisher_forward_conv2d if isinstance(layer, nn.Conv2d) else fisher_forward_linear,
                                         layer)
        layer.dummy.register_backward_hook(hook_factory(layer))
    net.zero_grad()
    F.cross_entropy(net(inputs), targets).backward()
    total = 0.0
    for layer in layers(net):
        value = torch.abs(layer.fisher.detach()) if layer.fisher is not None else torch.zeros(layer.weight.shape[0])
        # reshape_elements: each channel's value filled into a tensor of the
        # channel's weight shape, then every element summed (sum_arr). The
        # reference fills torch.Tensor(shape), float32; here float64, as every
        # other step of this comparison, so that the tolerance below holds.
        shape = layer.weight.shape[1:]
        total += float(torch.stack([torch.empty(shape, dtype=torch.float64).fill_(float(v)) for v in value]).sum())
    return total


def reference_naswot(net, inputs, targets):
    net = copy.deepcopy(net)
    batch = inputs.size(0)
    net.K = np.zeros((batch, batch))

    def counting_forward_hook(module, inp, out):
        # The reference wraps this in try/except: pass, which skips modules the
        # first forward pass finds without visited_backwards; getattr does the same.
        if not getattr(module, "visited_backwards", False):
            return
        if isinstance(inp, tuple):
            inp = inp[0]
        inp = inp.view(inp.size(0), -1)
        x = (inp > 0).float()
        K = x @ x.t()
        K2 = (1. - x) @ (1. - x.t())
        net.K = net.K + K.cpu().numpy() + K2.cpu().numpy()

    def counting_backward_hook(module, inp, out):
        module.visited_backwards = True

    for name, module in net.named_modules():
        if 'ReLU' in str(type(module)):
            module.register_forward_hook(counting_forward_hook)
            module.register_backward_hook(counting_backward_hook)
    # get_batch_jacobian: a forward and backward pass that marks the ReLUs, then the counted forward pass.
    x = inputs.clone()
    net.zero_grad()
    x.requires_grad_(True)
    y = net(x)
    y.backward(torch.ones_like(y))
    net(inputs.clone())
    sign, logdet = np.linalg.slogdet(net.K)
    return float(logdet)


def reference_synflow(net, inputs, targets):
    net = copy.deepcopy(net)
    for module in net.modules():  # the bn=False copy
        if isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
            module.forward = types.MethodType(lambda self, x: x, module)
    with torch.no_grad():
        for _, tensor in net.state_dict().items():
            tensor.abs_()
    net.zero_grad()
    net.double()
    ones = torch.ones([1] + list(inputs[0, :].shape)).double()
    torch.sum(net.forward(ones)).backward()
    return sum(float((layer.weight * layer.weight.grad).abs().sum().detach()) for layer in layers(net)
               if layer.weight.grad is not None)


def reference_jacob_cov(net, inputs, targets):
    net.zero_grad()
    x = inputs.clone().requires_grad_(True)
    y = net(x)
    y.backward(torch.ones_like(y))
    jacobs = x.grad.detach().reshape(x.size(0), -1).numpy()
    correlations = np.corrcoef(jacobs)
    v, _ = np.linalg.eig(correlations)
    k = 1e-5
    score = -np.sum(np.log(v + k) + 1. / (v + k))
    # eig of a symmetric matrix may come back complex with zero imaginary parts.
    assert abs(np.imag(score)) <= 1e-9 * abs(np.real(score))
    return float(np.real(score))


def reference_zico(net, inputs, targets):
    grads = {}
    size = inputs.size(0) // ZICO_BATCHES
    for b in range(ZICO_BATCHES):
        net.zero_grad()
        F.cross_entropy(net(inputs[b * size:(b + 1) * size]), targets[b * size:(b + 1) * size]).backward()
        for name, module in net.named_modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                grads.setdefault(name, []).append(module.weight.grad.data.reshape(-1).numpy().copy())
    score = 0.0
    for name in grads:
        array = np.array(grads[name])
        std = np.std(array, axis=0)
        nonzero = np.nonzero(std)[0]
        mean_abs = np.mean(np.abs(array), axis=0)
        total = np.sum(mean_abs[nonzero] / std[nonzero])
        if total != 0:
            score += np.log(total)
    return float(score)


REFERENCES = {"grad_norm": reference_grad_norm, "snip": reference_snip, "grasp": reference_grasp,
              "fisher": reference_fisher, "synflow": reference_synflow, "jacob_cov": reference_jacob_cov,
              "naswot": reference_naswot, "zico": reference_zico}


# ------------------------------------------------------------------ tests

def cellscape_proxies(cellscape, checkpoint, *extra):
    return json.loads(cellscape("proxies", "--checkpoint", str(checkpoint), "--samples", str(SAMPLES), "--sampling",
                                "sequential", "--split", "train", "--dtype", "float64", "--threads", "1",
                                "--zico-batches", str(ZICO_BATCHES), *extra).stdout)


# Every proxy on both cells, but jacob_cov on DARTS_V2 (see AVERAGE_POOLING).
COMPARISONS = [(proxy, cell) for proxy in PROXIES for cell in CELLS if (proxy, cell) != ("jacob_cov", "darts_v2")]


@pytest.mark.parametrize("proxy,cell", COMPARISONS)
def test_each_proxy_equals_its_reference_code(cellscape, checkpoints, proxy, cell):
    checkpoint = checkpoints[cell]
    scores = cellscape_proxies(cellscape, checkpoint, "--proxies", proxy)
    net, images, labels = twin(checkpoint)
    expected = REFERENCES[proxy](net, images, labels)
    assert np.isfinite(expected)
    assert scores[proxy] == pytest.approx(expected, rel=RTOL, abs=0)


def test_all_proxies_in_one_run_equal_each_alone(cellscape, checkpoint):
    # Each proxy starts from the model as loaded: synflow's |p| and the
    # training-mode passes' running statistics do not leak into the next.
    together = cellscape_proxies(cellscape, checkpoint)
    for proxy in PROXIES:
        alone = cellscape_proxies(cellscape, checkpoint, "--proxies", proxy)
        assert together[proxy] == pytest.approx(alone[proxy], rel=1e-12, abs=0), proxy
    assert together["samples"] == SAMPLES
    net, _, _ = twin(checkpoint)
    assert together["layer_weights"] == sum(layer.weight.numel() for layer in layers(net))


def test_proxy_settings_are_checked(cellscape, checkpoint):
    result = cellscape("proxies", "--checkpoint", str(checkpoint), "--samples", "30", "--zico-batches", "4",
                       check=False)
    assert result.returncode != 0
    assert "--zico-batches" in result.stderr and "equal batches" in result.stderr
    result = cellscape("proxies", "--checkpoint", str(checkpoint), "--proxies", "zen_score", check=False)
    assert result.returncode != 0 and "zen_score" in result.stderr


def test_the_scores_file_records_the_scores_and_their_batch(cellscape, checkpoint, tmp_path):
    import h5py
    out = tmp_path / "proxies.h5"
    printed = cellscape_proxies(cellscape, checkpoint, "--proxies", "snip,zico", "--out", str(out))
    with h5py.File(out) as f:
        assert f.attrs["format"] == "cellscape-proxies"
        assert f.attrs["snip"] == printed["snip"] and f.attrs["zico"] == printed["zico"]
        assert "grasp" not in f.attrs
        assert f.attrs["samples"] == SAMPLES and f.attrs["sampling"] == "sequential" and "seed" not in f.attrs
        assert f.attrs["bn_mode"] == "train" and f.attrs["dtype"] == "float64"
        assert f.attrs["model_source"] == f"checkpoint:{checkpoint}"
        assert f.attrs["parameter_count"] == printed["layer_weights"]


def test_initial_scores_the_network_the_run_started_from(cellscape, checkpoint, tmp_path):
    # The trained checkpoint (epoch 1) with --initial equals the trainer's own
    # epoch-0000.h5, to the bit: the same network rebuilt from the run's seed.
    import h5py
    trained = checkpoint.parent / "epoch-0001.h5"
    out = tmp_path / "initial.h5"
    initial = cellscape_proxies(cellscape, trained, "--initial", "--out", str(out))
    saved = cellscape_proxies(cellscape, checkpoint)
    as_trained = cellscape_proxies(cellscape, trained)
    for proxy in PROXIES:
        assert initial[proxy] == saved[proxy], proxy
        assert as_trained[proxy] != saved[proxy], proxy
    with h5py.File(out) as f:
        assert f.attrs["model_source"] == f"checkpoint:{trained} (initial weights)"
    with h5py.File(checkpoint) as f:  # the hash of the initial parameters, as the trainer recorded it
        assert h5py.File(out).attrs["weights_hash"] == f.attrs["weights_hash"]
    result = cellscape("proxies", "--torchscript", str(trained), "--dataset", "fashion-mnist", "--initial",
                       check=False)
    assert result.returncode != 0 and "--initial requires --checkpoint" in result.stderr


class SmallConvNet(nn.Module):
    """A PyTorch model of the kind a user brings as TorchScript: convolutions, BatchNorm, ReLU, a linear head.
    The ReLUs are modules, which NASWOT's reference hooks (a functional relu it would not see)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=True)
        self.bn2 = nn.BatchNorm2d(4)
        self.relu2 = nn.ReLU()
        self.head = nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        h = self.relu1(self.bn1(self.conv1(x)))
        h = self.relu2(self.bn2(self.conv2(h)))
        return self.head(h.flatten(1))


@pytest.mark.parametrize("operators", [[], ["--torchscript-as-saved"]], ids=["cellscape", "as-saved"])
def test_a_torchscript_model_s_proxies_equal_the_reference_code(cellscape, tmp_path, operators):
    # Scripted (not traced), so that BatchNorm follows the train/eval switch the proxies use.
    import h5py
    torch.manual_seed(4)
    model = SmallConvNet().double()
    x = torch.randn(24, 1, 5, 5, dtype=torch.float32)
    y = torch.arange(24) % 3
    torch.jit.script(model).save(str(tmp_path / "model.pt"))
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["x"] = x.numpy()
        f["y"] = y.numpy()
    scores = json.loads(cellscape("proxies", "--torchscript", str(tmp_path / "model.pt"), "--data",
                                  str(tmp_path / "data.h5"), "--samples", "0", "--sampling", "sequential",
                                  "--dtype", "float64", "--threads", "1", "--zico-batches", str(ZICO_BATCHES),
                                  *operators).stdout)
    for proxy in PROXIES:
        expected = REFERENCES[proxy](copy.deepcopy(model).train(), x.double(), y)
        assert scores[proxy] == pytest.approx(expected, rel=RTOL, abs=0), proxy
