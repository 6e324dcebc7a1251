"""`cellscape hessian` on a TorchScript model saved by PyTorch, checked
against PyTorch's own dense Hessian, and on a training checkpoint."""
import json

import h5py
import numpy as np
import pytest
import torch


def make_model_and_data(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).double()
    x = torch.randn(40, 6, dtype=torch.float64)
    y = torch.arange(40) % 3
    torch.jit.script(model).save(str(tmp_path / "model.pt"))
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["x"] = x.numpy().astype(np.float32)
        f["y"] = y.numpy()
    return model, x.float().double(), y


def reference_eigenvalues(model, x, y):
    """Eigenvalues of the Hessian of the mean cross-entropy, from torch.autograd.functional."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(w):
        tensors, offset = {}, 0
        for name, shape in zip(names, shapes):
            count = int(np.prod(shape))
            tensors[name] = w[offset:offset + count].reshape(shape)
            offset += count
        logits = torch.func.functional_call(model, tensors, (x,)) if hasattr(torch, "func") else \
            torch.nn.utils.stateless.functional_call(model, tensors, (x,))
        return torch.nn.functional.cross_entropy(logits, y)

    hessian = torch.autograd.functional.hessian(loss, flat)
    return np.linalg.eigvalsh(hessian.numpy())


def test_hessian_of_a_pytorch_torchscript_model_matches_pytorch(cellscape, tmp_path):
    model, x, y = make_model_and_data(tmp_path)
    expected = reference_eigenvalues(model, x, y)
    out = tmp_path / "hessian.h5"
    result = json.loads(cellscape("hessian", "--torchscript", str(tmp_path / "model.pt"), "--data",
                                  str(tmp_path / "data.h5"), "--samples", "0", "--sampling", "sequential",
                                  "--dtype", "float64", "--top-k", "3", "--bottom-k", "2", "--tol", "1e-10",
                                  "--trace", "--density", "--slq-steps", "20", "--slq-runs", "3",
                                  "--threads", "1", "--out", str(out), "--json").stdout)
    # float64 throughout (the data went through float32 in the file, as the model sees it): 1e-8 relative.
    scale = np.abs(expected).max()
    assert np.allclose(result["eigenvalues"], expected[::-1][:3], atol=1e-8 * scale)
    assert np.allclose(result["bottom_eigenvalues"], expected[:2], atol=1e-8 * scale)
    assert all(result["converged"]) and max(result["error_estimates"]) <= 1e-10
    assert result["parameters"] == 6 * 5 + 5 + 5 * 3 + 3 and result["samples"] == 40
    assert abs(result["trace"] - expected.sum()) < 4 * result["trace_stderr"]
    with h5py.File(out) as f:
        assert f.attrs["format"] == "cellscape-hessian"
        assert f.attrs["model_source"].startswith("torchscript:")
        assert np.allclose(f["eigenvalues"][:], result["eigenvalues"])
        assert f["density/grid"].shape == f["density/density"].shape == (1000,)


def test_hessian_defaults_compute_only_the_top_eigenvalue(cellscape, tmp_path):
    make_model_and_data(tmp_path)
    result = json.loads(cellscape("hessian", "--torchscript", str(tmp_path / "model.pt"), "--data",
                                  str(tmp_path / "data.h5"), "--samples", "0", "--json").stdout)
    assert len(result["eigenvalues"]) == 1
    assert "bottom_eigenvalues" not in result and "trace" not in result


def test_hessian_rejects_bad_requests(cellscape, tmp_path):
    make_model_and_data(tmp_path)
    too_many = cellscape("hessian", "--torchscript", str(tmp_path / "model.pt"), "--data", str(tmp_path / "data.h5"),
                         "--samples", "0", "--top-k", "60", check=False)
    assert too_many.returncode == 1 and "only 53 parameters" in too_many.stderr
    neither = cellscape("hessian", "--top-k", "1", check=False)
    assert neither.returncode == 1 and "give either --checkpoint" in neither.stderr
    no_data = cellscape("hessian", "--torchscript", str(tmp_path / "model.pt"), check=False)
    assert no_data.returncode == 1 and "--data FILE.h5" in no_data.stderr


class SmallConvNet(torch.nn.Module):
    """The node kinds a traced DARTS export has: a convolution with an eval
    BatchNorm after it, a dilated depthwise convolution, a concatenation, a
    BatchNorm after the concatenation, ReLUs."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(3)
        self.depthwise = torch.nn.Conv2d(3, 3, 3, padding=2, dilation=2, groups=3, bias=False)
        self.bn_cat = torch.nn.BatchNorm2d(6, affine=False)
        self.head = torch.nn.Linear(6 * 5 * 5, 3)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))
        h = torch.relu(self.bn_cat(torch.cat([self.depthwise(h), h], 1)))
        return self.head(h.flatten(1))


def test_a_traced_conv_net_through_cellscape_operators_matches_pytorch(cellscape, tmp_path):
    torch.manual_seed(1)
    model = SmallConvNet().double()
    with torch.no_grad():  # running statistics that are not the identity
        for bn in (model.bn, model.bn_cat):
            bn.running_mean.uniform_(-0.3, 0.3)
            bn.running_var.uniform_(0.5, 1.5)
    model.eval()
    x = torch.randn(24, 1, 5, 5, dtype=torch.float32).double()
    y = torch.arange(24) % 3
    torch.jit.trace(model, x[:4]).save(str(tmp_path / "model.pt"))
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["x"] = x.numpy().astype(np.float32)
        f["y"] = y.numpy()
    expected = reference_eigenvalues(model, x, y)
    scale = np.abs(expected).max()
    for flags in ([], ["--torchscript-as-saved"]):
        out = tmp_path / f"hessian{len(flags)}.h5"
        result = json.loads(cellscape("hessian", "--torchscript", str(tmp_path / "model.pt"), "--data",
                                      str(tmp_path / "data.h5"), "--samples", "0", "--dtype", "float64",
                                      "--top-k", "2", "--tol", "1e-10", "--threads", "1", "--out", str(out),
                                      "--json", *flags).stdout)
        # float64 throughout, converged to 1e-10: 1e-8 relative to the largest |eigenvalue|.
        assert np.allclose(result["eigenvalues"], expected[::-1][:2], atol=1e-8 * scale), flags
        with h5py.File(out) as f:
            operators = f.attrs["model_operators"]
        if flags:
            assert operators == "as saved"
        else:
            assert operators == ("cellscape's operators for 2 convolutions (1 with their batch norm folded in), "
                                 "1 other eval batch norms, 2 ReLUs and 1 concatenations")


def test_torchscript_as_saved_needs_a_torchscript_model(cellscape, tiny_run):
    result = cellscape("hessian", "--checkpoint", str(tiny_run / "epoch-0002.h5"), "--torchscript-as-saved", check=False)
    assert result.returncode == 1 and "--torchscript-as-saved applies to a --torchscript model" in result.stderr


def test_curvature_by_part_splits_a_darts_network_into_its_cells_and_their_edges(cellscape, tiny_run, tmp_path):
    from test_schema import check_against_schema
    checkpoint = str(tiny_run / "epoch-0002.h5")
    out = tmp_path / "parts.h5"
    common = ["hessian", "--checkpoint", checkpoint, "--samples", "64", "--batch-size", "32", "--dtype", "float64",
              "--trace", "--trace-max-probes", "10", "--threads", "1", "--json"]
    whole = json.loads(cellscape(*common, "--by-part", "cell", "--out", str(out)).stdout)
    parts = whole["parts"]
    # Three cells (layers = 3) between the stem and the classifier.
    assert [p["name"] for p in parts] == ["stem", "cells.0", "cells.1", "cells.2", "classifier"]
    assert sum(p["parameters"] for p in parts) == whole["parameters"]
    # The parts' traces come from the whole trace's probes: they sum to it (float64 rounding of 5 terms).
    assert sum(p["trace"] for p in parts) == pytest.approx(whole["trace"], rel=1e-10, abs=1e-12)
    # A diagonal block's top eigenvalue is at most the whole Hessian's (Cauchy interlacing), up to Lanczos' tol.
    top = whole["eigenvalues"][0]
    assert all(p["top_eigenvalue"] <= top * (1 + 1e-3) for p in parts)
    check_against_schema(out, "cellscape-hessian")
    with h5py.File(out) as f:
        assert [n.decode() for n in f["parts/name"][()]] == [p["name"] for p in parts]
        np.testing.assert_array_equal(f["parts/trace"][()], [p["trace"] for p in parts])
    edges = json.loads(cellscape(*common, "--top-k", "0", "--by-part", "edge").stdout)["parts"]
    names = [p["name"] for p in edges]
    # DARTS_V2's cells have 8 edges; a pooling or skip edge has no parameters, so no part.
    assert names[:3] == ["stem", "cells.0.preprocess0", "cells.0.preprocess1"]
    assert {n for n in names if n.startswith("cells.0.ops.")} == {f"cells.0.ops.{k}" for k in (0, 1, 2, 3, 4, 7)}
    assert all("top_eigenvalue" not in p for p in edges)
    assert sum(p["trace"] for p in edges) == pytest.approx(whole["trace"], rel=1e-10, abs=1e-12)
    result = cellscape("hessian", "--checkpoint", checkpoint, "--top-k", "0", "--by-part", "cell", check=False)
    assert result.returncode == 1 and "--by-part" in result.stderr


def test_the_gradient_variance_splits_by_the_same_parts(cellscape, tiny_run, tmp_path):
    from test_schema import check_against_schema
    out = tmp_path / "gradvar.h5"
    result = json.loads(cellscape("gradvar", "--checkpoint", str(tiny_run / "epoch-0002.h5"), "--batches", "3",
                                  "--batch-size", "16", "--dtype", "float64", "--threads", "1", "--by-part", "cell",
                                  "--out", str(out)).stdout)
    assert [p["name"] for p in result["parts"]] == ["stem", "cells.0", "cells.1", "cells.2", "classifier"]
    assert sum(p["variance"] for p in result["parts"]) == pytest.approx(result["total_variance"], rel=1e-12)
    check_against_schema(out, "cellscape-gradvar")
    with h5py.File(out) as f:
        names = json.loads(f.attrs["tensor_names"])
        # The classifier's part is its tensors' columns, summed.
        columns = [i for i, n in enumerate(names) if n.startswith("classifier.")]
        assert f["parts/variance"][0, 4] == pytest.approx(f["tensor_variance"][0, columns].sum(), rel=1e-12)
