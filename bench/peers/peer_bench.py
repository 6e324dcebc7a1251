"""Side-by-side benchmark of cellscape against its peers on one checkpoint:
the same network, weights and images for everyone.

  (a) PyHessian's top eigenvalue (`hessian(model, criterion, data=... |
      dataloader=...).eigenvalues(top_n=1)`, its defaults: power iteration,
      tol 1e-3, at most 100 iterations; the model in eval mode) on the
      PyTorch twin of the network (bench/peers/darts_torch.py);
  (b) a loss-landscape-style surface loop on the twin: per point, the
      weights set to w0 + a*dx + b*dy (copied in place), then the
      loss-landscape project's `evaluation.eval_loss` loop (eval mode, no_grad,
      loss.item() * batch size summed over the batches, accuracy);
  (c) optionally, a tight reference top eigenvalue (ARPACK on float64
      Hessian-vector products of the twin) and each method's relative error;
  (d) `cellscape hessian` (its defaults: thick-restart Lanczos, stopping on
      its residual-based error estimate, --tol 1e-4 relative, started from the
      gradient plus a Gaussian vector, gradient graphs kept between HVPs) and
      `cellscape surface` on the same checkpoint and samples;
  (e) `cellscape hessian` on a TorchScript export of the twin (torch.jit.trace
      in eval mode, in --dtype, on one batch of the evaluation images) with
      those images and labels in an HDF5 file (`--torchscript MODEL.pt --data
      FILE.h5`): the generic path any PyTorch user has, against the
      checkpoint's native one; its loss is checked against the checkpoint's.
      By default cellscape runs the traced graph through its own operators;
      it runs again with `--torchscript-as-saved` (LibTorch's operators, the
      module as saved) unless `torchscript-as-saved` is skipped;
  (f) a roofline bound on a surface point: the twin's forward pass, operation
      by operation, at this machine's measured matrix-multiply rate and copy
      bandwidth (the convolutions' share bounds any implementation that runs
      them as separate kernels).

Every method sees the first N training samples of the run (cellscape's
`--samples N --sampling sequential --split train`) in batches of B, and runs on
T threads. The loss-landscape loop uses the directions cellscape's surface
drew (read from its file; random filter-normalized directions with biases and
BatchNorm ignored, as in loss-landscape's `--xnorm filter --xignore biasbn`)
so that its values can be compared point by point.

Prints one JSON object and writes it to --out.

    .venv/bin/python bench/peers/peer_bench.py CHECKPOINT --samples 256 --batch-size 256 --threads 2 \
        --cellscape build/tools/cellscape --reference --out bench-results/peers.json
"""
import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import darts_torch  # noqa: E402


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a cellscape checkpoint (HDF5)")
    parser.add_argument("--samples", type=int, default=256, help="evaluation samples: the first N of the train split")
    parser.add_argument("--batch-size", type=int, default=256, help="evaluation batch size for every method")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for every method")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="dtype of PyHessian, the surface loop and cellscape (all default to float32)")
    parser.add_argument("--cellscape", default=os.environ.get("CELLSCAPE", ""),
                        help="the cellscape binary (default $CELLSCAPE); empty: skip (d) and (e)")
    parser.add_argument("--grid", default="3x3", help="surface grid NXxNY over [-1, 1]^2 (default 3x3)")
    parser.add_argument("--pyhessian-mode", choices=["auto", "data", "dataloader"], default="auto",
                        help="PyHessian's data= (one batch, its graph kept across HVPs) or dataloader= "
                             "(every HVP recomputes all batches); auto: data= when the samples fit one batch")
    parser.add_argument("--reference", action="store_true",
                        help="also compute a tight reference top eigenvalue (ARPACK, float64 HVPs)")
    parser.add_argument("--reference-tol", type=float, default=1e-8, help="the reference solver's relative tolerance")
    parser.add_argument("--reference-method", choices=["cellscape", "arpack"], default="cellscape",
                        help="cellscape: `cellscape hessian` in float64 to --reference-tol (fast; it agrees with "
                             "ARPACK on the twin to 1e-15 in tests/cli/test_peer_network.py); arpack: scipy's eigsh "
                             "on the twin's float64 HVPs (independent, but about 20 GiB and tens of minutes on the "
                             "full workload)")
    parser.add_argument("--channels-last", action="store_true",
                        help="run the twin in channels-last layout (cellscape's layout; PyTorch code rarely does)")
    parser.add_argument("--seed", type=int, default=0, help="seed of PyHessian's starting vector and of cellscape")
    parser.add_argument("--skip", default="",
                        help="comma-separated parts to skip: "
                             "pyhessian,surface-loop,cellscape,torchscript,torchscript-as-saved,roofline")
    parser.add_argument("--out", default="", help="write the JSON here too")
    return parser.parse_args()


# ---------------------------------------------------------------- helpers

def make_twin(checkpoint, dtype, channels_last):
    net = darts_torch.load_checkpoint(checkpoint, dtype=dtype)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net.eval()


def batches_of(images, labels, batch_size, channels_last):
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return [(images[i:i + batch_size], labels[i:i + batch_size]) for i in range(0, images.shape[0], batch_size)]


def warm_up(net, batches):
    with torch.no_grad():
        net(batches[0][0])


def relative_error(value, reference):
    if value is None or reference is None:
        return None
    return abs(value - reference) / abs(reference)


def run_cellscape(binary, arguments, allow_incomplete=False):
    """cellscape's JSON summary and the wall time. `cellscape hessian` prints its
    summary, then exits 1 when an eigenvalue missed --tol within the HVP or time
    budget; with allow_incomplete that summary is kept (its eigenvalue is null,
    `converged` false; the caller records the exit status)."""
    start = time.perf_counter()
    result = subprocess.run([binary, *arguments], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        summary = None
        if allow_incomplete:
            try:
                summary = json.loads(result.stdout)
            except json.JSONDecodeError:
                pass
        if summary is None:
            raise RuntimeError(f"cellscape {' '.join(arguments)} exited {result.returncode}:\n{result.stderr}")
        summary["_exit_status"] = result.returncode
        summary["_stderr_tail"] = result.stderr.strip()[-500:]
        return summary, wall
    return json.loads(result.stdout), wall


def hessian_defaults(binary):
    """The defaults `cellscape hessian --help` shows for the solver's options, so
    the recorded settings are the binary's, not this file's memory of them."""
    text = subprocess.run([binary, "hessian", "--help"], capture_output=True, text=True).stdout
    defaults = {}
    for option in ("--top-k", "--tol", "--max-hvps", "--max-seconds", "--ncv"):
        match = re.search(rf"{re.escape(option)} \S+=(\S+)", text)
        if match:
            defaults[option] = match.group(1)
    return defaults


def hessian_settings(defaults):
    shown = ", ".join(f"{option} {value}" for option, value in defaults.items())
    return ("defaults: thick-restart Lanczos (full reorthogonalization) stopping on its residual-based error "
            f"estimate; {shown} (--tol: relative error estimate of each eigenvalue); started from the gradient "
            "plus a Gaussian vector (seeded by --seed); gradient graphs kept between HVPs (--hvp-memory default); "
            "hvp_count is the solver's own (no extra residual check)")


def first(values):
    return values[0] if values else None


def hessian_record(hessian, wall, reference_value, settings):
    """One `cellscape hessian --json` summary (top-1) as this benchmark records it."""
    eigenvalue = first(hessian["eigenvalues"])
    ritz_value = first(hessian.get("ritz_values"))
    record = {
        "eigenvalue": eigenvalue, "ritz_value": ritz_value, "hvp_count": hessian["hvp_count"],
        "seconds": hessian["seconds"], "wall_seconds": wall,
        "seconds_per_hvp": hessian["seconds"] / max(hessian["hvp_count"], 1),
        "converged": first(hessian.get("converged")),
    }
    # cellscape's own keys, as it reports them: error_estimates and residuals are relative to each
    # eigenvalue's scale (|theta|, at least 1e-3 of the largest); converged means error estimate <= --tol.
    for key in ("error_estimates", "residuals", "lanczos_stop", "lanczos_hvps"):
        if key in hessian:
            record[key] = hessian[key]
    record.update({"loss": hessian["loss"], "accuracy": hessian["accuracy"],
                   "parameters": hessian.get("parameters"), "samples": hessian.get("samples"),
                   "relative_error": relative_error(eigenvalue if eigenvalue is not None else ritz_value,
                                                    reference_value),
                   "settings": settings})
    if "_exit_status" in hessian:
        record["exit_status"] = hessian["_exit_status"]
        record["stderr_tail"] = hessian["_stderr_tail"]
        record["note"] = "the eigenvalue missed --tol within the budget; relative_error is the Ritz value's"
    return record


def mean_loss(args, dtype, images, labels):
    """The twin's mean cross-entropy over the evaluation set (eval mode)."""
    net = make_twin(args.checkpoint, dtype, args.channels_last)
    with torch.no_grad():
        logits = torch.cat([net(x) for x, _ in batches_of(images, labels, args.batch_size, args.channels_last)])
    return torch.nn.functional.cross_entropy(logits, labels, reduction="sum").item() / args.samples


# ---------------------------------------------------------------- (a) PyHessian

def pyhessian_top_eigenvalue(args, dtype, images, labels):
    import pyhessian
    pyhessian_module = sys.modules["pyhessian.hessian"]  # pyhessian.hessian is the class, not the module
    net = make_twin(args.checkpoint, dtype, args.channels_last)
    batches = batches_of(images, labels, args.batch_size, args.channels_last)
    mode = args.pyhessian_mode
    if mode == "auto":
        mode = "data" if len(batches) == 1 else "dataloader"
    if mode == "data" and len(batches) != 1:
        raise SystemExit(f"--pyhessian-mode data needs one batch; {args.samples} samples make {len(batches)}")
    warm_up(net, batches)
    criterion = torch.nn.CrossEntropyLoss()
    counts = {"hvp": 0}
    # Count Hessian-vector products where PyHessian makes them: its module's
    # hessian_vector_product (data=) or the method that sums one over the loader.
    original_product = pyhessian_module.hessian_vector_product

    def counted_product(*a, **k):
        counts["hvp"] += 1
        return original_product(*a, **k)

    pyhessian_module.hessian_vector_product = counted_product
    previous_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # PyHessian draws its vectors with torch.randn in the default dtype
    torch.manual_seed(args.seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # backward(create_graph=True)'s reference-cycle warning
            start = time.perf_counter()
            if mode == "data":
                computer = pyhessian.hessian(net, criterion, data=batches[0], cuda=False)
            else:
                computer = pyhessian.hessian(net, criterion, dataloader=batches, cuda=False)
                original_loader_product = computer.dataloader_hv_product

                def counted_loader_product(v):
                    counts["hvp"] += 1
                    return original_loader_product(v)

                computer.dataloader_hv_product = counted_loader_product
            setup = time.perf_counter() - start
            eigenvalues, _ = computer.eigenvalues(top_n=1)
            total = time.perf_counter() - start
    finally:
        pyhessian_module.hessian_vector_product = original_product
        torch.set_default_dtype(previous_dtype)
    return {"mode": mode, "eigenvalue": float(eigenvalues[0]), "hvp_count": counts["hvp"],
            "setup_seconds": setup, "seconds": total,
            "seconds_per_hvp": (total - setup) / max(counts["hvp"], 1),
            "settings": "eigenvalues(top_n=1) defaults: maxIter=100, tol=1e-3 (relative change of the Rayleigh "
                        "quotient between power iterations)",
            "note": "data=: one forward and gradient with create_graph at setup, kept for every HVP; "
                    "dataloader=: every HVP recomputes forward and gradient over all batches"}


# ---------------------------------------------------------------- (b) loss-landscape loop

def eval_loss(net, criterion, loader):
    """The loss-landscape project's evaluation.eval_loss for a CrossEntropyLoss (CPU)."""
    correct = 0
    total_loss = 0
    total = 0
    net.eval()
    with torch.no_grad():
        for inputs, targets in loader:
            batch_size = inputs.size(0)
            total += batch_size
            outputs = net(inputs)
            loss = criterion(outputs, targets)
            total_loss += loss.item() * batch_size
            _, predicted = outputs.max(1)
            correct += predicted.eq(targets).sum().item()
    return total_loss / total, 100.0 * correct / total


def random_filter_directions(net, seed):
    """loss-landscape's create_random_direction(net, 'weights', ignore='biasbn', norm='filter')."""
    generator = torch.Generator().manual_seed(seed)
    directions = []
    for weights in [p.data for p in net.parameters()]:
        d = torch.randn(weights.size(), generator=generator, dtype=weights.dtype)
        if d.dim() <= 1:
            d.fill_(0)
        else:
            for df, wf in zip(d, weights):
                df.mul_(wf.norm() / (df.norm() + 1e-10))
        directions.append(d)
    return directions


def surface_loop(args, dtype, images, labels, surface_file):
    net = make_twin(args.checkpoint, dtype, args.channels_last)
    batches = batches_of(images, labels, args.batch_size, args.channels_last)
    names = [name for name, _ in net.named_parameters()]
    parameters = list(net.parameters())
    w0 = [p.detach().clone() for p in parameters]
    nx, ny = (int(n) for n in args.grid.lower().split("x"))
    if surface_file:  # cellscape's directions and grid, matched by parameter name
        with h5py.File(surface_file, "r") as f:
            dx = [torch.from_numpy(f["xdirection"][name][()]).to(dtype) for name in names]
            dy = [torch.from_numpy(f["ydirection"][name][()]).to(dtype) for name in names]
            xs, ys = f["xcoordinates"][()], f["ycoordinates"][()]
            reference = f["train_loss"][()]
        source = "cellscape surface file (random, filter-normalized, biases and BatchNorm ignored)"
    else:
        dx, dy = random_filter_directions(net, args.seed), random_filter_directions(net, args.seed + 1)
        xs, ys = np.linspace(-1, 1, nx), np.linspace(-1, 1, ny)
        reference = None
        source = "random, filter-normalized, biases and BatchNorm ignored (loss-landscape's)"
    if args.channels_last:
        dx = [d.contiguous(memory_format=torch.channels_last) if d.dim() == 4 else d for d in dx]
        dy = [d.contiguous(memory_format=torch.channels_last) if d.dim() == 4 else d for d in dy]
    criterion = torch.nn.CrossEntropyLoss()
    warm_up(net, batches)
    losses = np.full((len(ys), len(xs)), np.nan)
    accuracies = np.full((len(ys), len(xs)), np.nan)
    start = time.perf_counter()
    for j, b in enumerate(ys):
        for i, a in enumerate(xs):
            with torch.no_grad():
                for p, w, d1, d2 in zip(parameters, w0, dx, dy):
                    p.copy_(w + float(a) * d1 + float(b) * d2)
            losses[j, i], accuracies[j, i] = eval_loss(net, criterion, batches)
    seconds = time.perf_counter() - start
    points = losses.size
    out = {"points": points, "seconds": seconds, "seconds_per_point": seconds / points, "directions": source,
           "train_loss": losses.tolist(), "train_accuracy_percent": accuracies.tolist()}
    if reference is not None:
        out["max_relative_loss_difference_vs_cellscape"] = float(np.max(np.abs(losses - reference) / np.abs(reference)))
    return out


# ---------------------------------------------------------------- (f) the forward pass's arithmetic

def forward_operations(net, batches):
    """Each ATen operation of the twin's forward pass over `batches` (no_grad): its name, floating-point
    operations (convolutions and linear layers: 2 per multiply-add), the bytes it must at least move
    (its tensor inputs, weights included, read once and its output written once) and the address of
    its first input."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Record(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.operations = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            first = out[0] if isinstance(out, (tuple, list)) else out
            flops = 0
            if func is torch.ops.aten.convolution.default:  # weight (Cout, Cin/groups, kh, kw)
                weight = args[1]
                flops = 2 * first.numel() * weight.shape[1] * weight.shape[2] * weight.shape[3]
            elif func is torch.ops.aten.addmm.default:
                flops = 2 * first.numel() * args[1].shape[1]
            tensors = [a for a in args if isinstance(a, torch.Tensor)] + [first]
            reads = args[0].data_ptr() if args and isinstance(args[0], torch.Tensor) else None
            self.operations.append((func.overloadpacket.__name__, flops,
                                    sum(t.numel() * t.element_size() for t in tensors), reads))
            return out

    with torch.no_grad(), Record() as record:
        for x, _ in batches:
            net(x)
    return record.operations


def machine_rates(dtype, repeats=5):
    """This machine's best matrix-multiply rate (FLOP/s, 2048x2048 in `dtype`) and memory bandwidth
    (bytes read plus written per second, a 64 MiB copy), on the threads torch was given."""
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    source = torch.randn(64 * 2 ** 20 // torch.finfo(dtype).bits * 8, dtype=dtype)
    target = torch.empty_like(source)

    def best(work):
        work()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return min(times)

    gemm = 2 * 2048 ** 3 / best(lambda: a @ b)
    bandwidth = 2 * source.numel() * source.element_size() / best(lambda: target.copy_(source))
    return gemm, bandwidth


def forward_roofline(args, dtype, images, labels):
    """A lower bound on one surface point: each operation of the twin's forward pass takes at least
    max(its FLOPs at the matrix-multiply rate, its bytes at the copy bandwidth). The convolutions'
    bound holds for any code that runs them as separate kernels, cellscape's included."""
    net = make_twin(args.checkpoint, dtype, args.channels_last)
    operations = forward_operations(net, batches_of(images, labels, args.batch_size, args.channels_last))
    gemm, bandwidth = machine_rates(dtype)
    by_name = {}
    shared_bound, seen = 0.0, set()
    for name, flops, nbytes, reads in operations:
        entry = by_name.setdefault(name, {"calls": 0, "gflop": 0.0, "gbytes": 0.0, "bound_seconds": 0.0})
        bound = max(flops / gemm, nbytes / bandwidth)
        entry["calls"] += 1
        entry["gflop"] += flops / 1e9
        entry["gbytes"] += nbytes / 1e9
        entry["bound_seconds"] += bound
        # cellscape's forward: BatchNorm folded into the convolution before it, one ReLU and one pooling
        # of each kind per tensor read (outside training), the rest as the twin runs it.
        repeated = name in ("relu", "max_pool2d_with_indices", "avg_pool2d") and (name, reads) in seen
        seen.add((name, reads))
        if name != "native_batch_norm" and not repeated:
            shared_bound += bound
    return {"gemm_gflop_per_second": gemm / 1e9, "copy_gbytes_per_second": bandwidth / 1e9,
            "forward_gflop": sum(e["gflop"] for e in by_name.values()),
            "convolution_bound_seconds": by_name.get("convolution", {}).get("bound_seconds", 0.0),
            "all_operations_bound_seconds": sum(e["bound_seconds"] for e in by_name.values()),
            "shared_operations_bound_seconds": shared_bound,
            "operations": by_name,
            "note": "per surface point (one forward pass over the samples), the twin's operations (BatchNorm "
                    "unfolded, a ReLU per reader); shared_operations_bound_seconds drops the batch norms and "
                    "repeated ReLUs and poolings of one tensor, as cellscape's forward does"}


# ---------------------------------------------------------------- (c) reference

def reference_top_eigenvalue(args, images, labels, tol):
    from scipy.sparse.linalg import LinearOperator, eigsh
    net = make_twin(args.checkpoint, torch.float64, args.channels_last)
    batches = batches_of(images.to(torch.float64), labels, args.batch_size, args.channels_last)
    parameters = list(net.parameters())
    sizes = [p.numel() for p in parameters]
    dimension = sum(sizes)
    count = {"hvp": 0}

    def hvp(vector):
        count["hvp"] += 1
        vector = torch.from_numpy(np.ascontiguousarray(vector, dtype=np.float64).reshape(-1))
        directions = [v.view_as(p) for v, p in zip(torch.split(vector, sizes), parameters)]
        total = None
        for inputs, targets in batches:  # the Hessian of the mean loss over all N samples
            loss = torch.nn.functional.cross_entropy(net(inputs), targets, reduction="sum") / args.samples
            gradients = torch.autograd.grad(loss, parameters, create_graph=True)
            products = torch.autograd.grad(gradients, parameters, grad_outputs=directions)
            flat = torch.cat([h.reshape(-1) for h in products])
            total = flat if total is None else total + flat
        return total.numpy()

    start = time.perf_counter()
    operator = LinearOperator((dimension, dimension), matvec=hvp, dtype=np.float64)
    values, vectors = eigsh(operator, k=1, which="LA", tol=tol, v0=np.random.default_rng(args.seed).standard_normal(
        dimension))
    seconds = time.perf_counter() - start
    residual = np.linalg.norm(hvp(vectors[:, 0]) - values[0] * vectors[:, 0]) / abs(values[0])
    return {"eigenvalue": float(values[0]), "hvp_count": count["hvp"], "seconds": seconds,
            "relative_residual": float(residual), "tol": tol, "dtype": "float64", "method": "scipy eigsh (ARPACK), which='LA'"}


# ---------------------------------------------------------------- (e) cellscape on a TorchScript export

def export_torchscript(args, dtype, images, labels, workdir, classes):
    """The twin traced (eval mode, in `dtype`) on the first evaluation batch and
    saved, and the evaluation set written as cellscape's `--data` HDF5 file:
    `x` float32 N x C x H x W and `y` int64 N, root attribute `classes`.

    `x` is float32 even for --dtype float64: cellscape reads an h5 dataset's
    images as float32 (data/dataset.cpp: a float64 `x` is accepted but cast to
    float32) and the Objective then casts them to --dtype, which is what the
    checkpoint path does with its float32-normalized images too; so these are
    bitwise the images of --checkpoint ... --sampling sequential."""
    net = make_twin(args.checkpoint, dtype, False)
    example = images[:args.batch_size].to(dtype)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings: spatial sizes (FactorizedReduce's padding) become constants
        with torch.no_grad():
            traced = torch.jit.trace(net, example)
    model_path = os.path.join(workdir, "model.pt")
    traced.save(model_path)
    export_seconds = time.perf_counter() - start
    with torch.no_grad():
        traced_difference = (traced(example) - net(example)).abs().max().item()
    data_path = os.path.join(workdir, "data.h5")
    with h5py.File(data_path, "w") as f:
        f.create_dataset("x", data=images.to(torch.float32).contiguous().numpy())
        f.create_dataset("y", data=labels.to(torch.int64).numpy())
        f.attrs["classes"] = np.int64(classes)
    return model_path, data_path, {"export_seconds": export_seconds,
                                   "traced_max_abs_logit_difference": traced_difference,
                                   "model_bytes": os.path.getsize(model_path),
                                   "data_bytes": os.path.getsize(data_path)}


def cellscape_torchscript(args, dtype, images, labels, workdir, classes, reference_value, settings, as_saved=False):
    model_path, data_path, export = export_torchscript(args, dtype, images, labels, workdir, classes)
    arguments = ["hessian", "--torchscript", model_path, "--data", data_path, "--samples", str(args.samples),
                 "--sampling", "sequential", "--batch-size", str(args.batch_size), "--threads", str(args.threads),
                 "--dtype", args.dtype, "--seed", str(args.seed), "--json"] + (["--torchscript-as-saved"] if as_saved
                                                                              else [])
    hessian, wall = run_cellscape(args.cellscape, arguments, allow_incomplete=True)
    record = hessian_record(hessian, wall, reference_value, settings)
    record["export"] = {**export, "method": f"torch.jit.trace of the twin in eval mode, {args.dtype}, on the first "
                                            f"{example_size(args)} evaluation images",
                        "data": "x float32 N x C x H x W (the normalized evaluation images), y int64, attribute classes"}
    return record


def example_size(args):
    return min(args.batch_size, args.samples)


# ---------------------------------------------------------------- main

def main():
    args = parse_arguments()
    if args.samples < 1 or args.batch_size < 1:
        raise SystemExit("--samples and --batch-size must be at least 1")
    skip = set(filter(None, args.skip.split(",")))
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    with h5py.File(args.checkpoint, "r") as f:
        genotype_text = darts_torch._attribute(f, "genotype")
        cell_name = darts_torch._attribute(f, "cell_name")
        epoch = int(f.attrs["epoch"])
        steps = len(f["history/step/loss"])
    _, network, training = darts_torch.read_checkpoint_config(args.checkpoint)
    images, labels = darts_torch.evaluation_images(args.checkpoint, args.samples, dtype=dtype)
    probe = make_twin(args.checkpoint, dtype, args.channels_last)
    result = {
        "workload": {
            "checkpoint": os.path.abspath(args.checkpoint), "cell": cell_name, "genotype": genotype_text,
            "network_config": network, "trained_epochs": epoch, "trained_steps": steps,
            "dataset": training["dataset"], "train_size": training["train_size"],
            "parameters": sum(p.numel() for p in probe.parameters()),
            "samples": args.samples, "batch_size": args.batch_size, "threads": args.threads, "dtype": args.dtype,
            "channels_last_twin": args.channels_last,
        },
        "environment": {"torch": torch.__version__, "python": platform.python_version(),
                        "machine": platform.machine(), "cpus": os.cpu_count()},
    }
    del probe
    reference = None
    if args.reference and args.reference_method == "arpack":
        reference = reference_top_eigenvalue(args, images, labels, args.reference_tol)
    elif args.reference:
        if not args.cellscape:
            raise SystemExit("--reference-method cellscape needs --cellscape")
        tight, wall = run_cellscape(args.cellscape, [
            "hessian", "--checkpoint", args.checkpoint, "--samples", str(args.samples), "--sampling", "sequential",
            "--batch-size", str(min(args.batch_size, 64)), "--threads", str(args.threads), "--dtype", "float64",
            "--seed", str(args.seed + 1), "--top-k", "1", "--tol", str(args.reference_tol), "--json"])
        reference = {"eigenvalue": tight["eigenvalues"][0], "hvp_count": tight["hvp_count"], "seconds": wall,
                     "error_estimate": tight["error_estimates"][0], "tol": args.reference_tol, "dtype": "float64",
                     "method": "cellscape hessian, float64, another starting vector (--seed + 1)"}
    if reference:
        result["reference"] = reference
    reference_value = reference["eigenvalue"] if reference else None

    surface_file = None
    workdir = tempfile.mkdtemp(prefix="peer-bench-")
    try:
        settings = None
        if args.cellscape and not {"cellscape", "torchscript"} <= skip:
            version = subprocess.run([args.cellscape, "--version"], capture_output=True, text=True).stdout.strip()
            result["environment"]["cellscape"] = version
            settings = hessian_settings(hessian_defaults(args.cellscape))
        twin_loss = None
        if args.cellscape and "cellscape" not in skip:
            common = ["--checkpoint", args.checkpoint, "--samples", str(args.samples), "--sampling", "sequential",
                      "--batch-size", str(args.batch_size), "--threads", str(args.threads), "--dtype", args.dtype,
                      "--seed", str(args.seed), "--json"]
            hessian, wall = run_cellscape(args.cellscape, ["hessian", *common], allow_incomplete=True)
            result["cellscape_hessian"] = hessian_record(hessian, wall, reference_value, settings)
            nx, ny = (int(n) for n in args.grid.lower().split("x"))
            surface_file = os.path.join(workdir, "surface.h5")
            surface, wall = run_cellscape(args.cellscape, ["surface", *common, "--x", f"-1:1:{nx}", "--y",
                                                           f"-1:1:{ny}", "--out", surface_file])
            result["cellscape_surface"] = {"points": surface["points"], "seconds": surface["seconds"],
                                           "seconds_per_point": surface["seconds_per_point"], "wall_seconds": wall,
                                           "directions": surface["directions"], "norm": surface["norm"]}
            # The twin computes cellscape's function on cellscape's images: check once, before timing anything on it.
            twin_loss = mean_loss(args, dtype, images, labels)
            result["twin_check"] = {"twin_loss": twin_loss, "cellscape_loss": hessian["loss"],
                                    "relative_difference": relative_error(twin_loss, hessian["loss"])}

        for as_saved, key in ((False, "torchscript"), (True, "torchscript-as-saved")):
            if not args.cellscape or "torchscript" in skip or key in skip:
                continue
            record = cellscape_torchscript(args, dtype, images, labels, workdir, network["classes"], reference_value,
                                           settings, as_saved)
            # The same function on the same images: its loss is the checkpoint path's (or, with that path
            # skipped, the twin's), up to rounding (cellscape's native path folds BatchNorm and reorders sums).
            if "cellscape_hessian" in result:
                against, against_loss = "cellscape_hessian (--checkpoint)", result["cellscape_hessian"]["loss"]
            else:
                if twin_loss is None:
                    twin_loss = mean_loss(args, dtype, images, labels)
                against, against_loss = "twin", twin_loss
            record["loss_check"] = {"against": against, "loss": record["loss"], "against_loss": against_loss,
                                    "relative_difference": relative_error(record["loss"], against_loss)}
            result["cellscape_" + key.replace("-", "_")] = record

        if "pyhessian" not in skip:
            pyhessian_result = pyhessian_top_eigenvalue(args, dtype, images, labels)
            pyhessian_result["relative_error"] = relative_error(pyhessian_result["eigenvalue"], reference_value)
            result["pyhessian"] = pyhessian_result

        if "surface-loop" not in skip:
            loop = surface_loop(args, dtype, images, labels, surface_file)
            result["loss_landscape_loop"] = loop
        if "roofline" not in skip:
            result["forward_roofline"] = forward_roofline(args, dtype, images, labels)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    summary = {}
    torchscript_runs = ("cellscape_torchscript", "cellscape_torchscript_as_saved")
    for name in ("reference", "cellscape_hessian", *torchscript_runs, "pyhessian"):
        if name in result:
            r = result[name]
            summary[name] = {k: r.get(k) for k in ("eigenvalue", "hvp_count", "seconds", "relative_error")}
    for name in torchscript_runs:
        if name in result:
            summary[name]["loss_relative_difference"] = result[name]["loss_check"]["relative_difference"]
    for name in ("cellscape_surface", "loss_landscape_loop"):
        if name in result:
            summary[name] = {"seconds_per_point": result[name]["seconds_per_point"]}
    # Speedups of cellscape over its peers (peer time / cellscape time; > 1: cellscape is faster).
    speedups = {}

    def speedup(key, peer, peer_field, ours, ours_field):
        if peer in result and ours in result and result[ours][ours_field]:
            speedups[key] = result[peer][peer_field] / result[ours][ours_field]

    speedup("pyhessian_over_cellscape_hessian", "pyhessian", "seconds", "cellscape_hessian", "seconds")
    speedup("pyhessian_over_cellscape_torchscript", "pyhessian", "seconds", "cellscape_torchscript", "seconds")
    speedup("pyhessian_over_cellscape_torchscript_as_saved", "pyhessian", "seconds", "cellscape_torchscript_as_saved",
            "seconds")
    speedup("loss_landscape_loop_over_cellscape_surface_per_point", "loss_landscape_loop", "seconds_per_point",
            "cellscape_surface", "seconds_per_point")
    summary["speedups"] = speedups
    if "forward_roofline" in result:
        bound = result["forward_roofline"]["convolution_bound_seconds"]
        summary["forward_roofline"] = {
            "convolution_bound_seconds": bound,
            "shared_operations_bound_seconds": result["forward_roofline"]["shared_operations_bound_seconds"]}
        if "loss_landscape_loop" in result:  # the most any code running these convolutions could gain
            summary["forward_roofline"]["loop_over_convolution_bound"] = \
                result["loss_landscape_loop"]["seconds_per_point"] / bound
    result["summary"] = summary
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
