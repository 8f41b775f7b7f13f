"""Train the panel-letter classifier on synthetic label crops and ship it as ONNX.

    python -m subfigure_detector.train_letters --out subfigure_detector/weights [--train 80000] [--epochs 8]

Data: `synth.label_crops.render_sample(seed, i)` for i < --train (training) and a disjoint index range
for validation; nothing from the gold or EXSCLAIM figures. Deterministic: sample i depends only on
(seed, i), rendering workers do not change the bytes, torch runs with a fixed seed, deterministic
algorithms and `--threads` threads (results are bit-identical for the same thread count and torch
build). Writes `letters.onnx` (input `x`: N x 1 x 24 x 64 float, 0 = white ... 1 = ink; outputs
`letter` N x 27, `suffix` N x 16, `lower` N x 2, softmax probabilities) and `letters.json`
(classes, recipe, metrics) into --out; the model card text lives in `weights/model_card.md`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from subfigure_detector.synth.label_crops import INPUT_H, INPUT_W, LETTERS, SUFFIXES, font_files, render_dataset

VAL_START = 10_000_000  # validation samples are drawn from indices far beyond any training index


def _render_chunk(args: tuple[int, int, int]) -> dict[str, np.ndarray]:
    seed, start, n = args
    return render_dataset(seed, n, start)


def render(seed: int, start: int, n: int, workers: int, chunk: int = 2000) -> dict[str, np.ndarray]:
    jobs = [(seed, start + k, min(chunk, n - k)) for k in range(0, n, chunk)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_render_chunk, jobs))
    else:
        parts = [_render_chunk(j) for j in jobs]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def build_model():
    import torch
    from torch import nn

    def block(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    class LetterNet(nn.Module):
        """~190k parameters, ~7 MFLOPs per 24 x 64 crop."""

        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                *block(1, 16), nn.MaxPool2d(2),  # 12 x 32
                *block(16, 32), nn.MaxPool2d(2),  # 6 x 16
                *block(32, 64), nn.MaxPool2d(2),  # 3 x 8
                *block(64, 96), nn.AdaptiveAvgPool2d((1, INPUT_W // 8)),
            )
            self.fc = nn.Sequential(nn.Flatten(), nn.Linear(96 * (INPUT_W // 8), 128), nn.ReLU(inplace=True),
                                    nn.Dropout(0.2))
            self.letter = nn.Linear(128, len(LETTERS) + 1)
            self.suffix = nn.Linear(128, len(SUFFIXES))
            self.lower = nn.Linear(128, 2)

        def forward(self, x):
            h = self.fc(self.features(x))
            return self.letter(h), self.suffix(h), self.lower(h)

    class Exported(nn.Module):
        """The shipped graph: softmax probabilities of the three heads."""

        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            a, b, c = self.net(x)
            return torch.softmax(a, 1), torch.softmax(b, 1), torch.softmax(c, 1)

    return LetterNet(), Exported


def to_tensor(x: np.ndarray):
    import torch

    return torch.from_numpy(1.0 - x.astype(np.float32)[:, None] / 255.0)  # ink = 1


def accuracy(model, data: dict[str, np.ndarray], batch: int = 1024) -> dict[str, float]:
    import torch

    model.eval()
    preds = {"letter": [], "suffix": [], "lower": []}
    with torch.no_grad():
        for k in range(0, len(data["x"]), batch):
            outs = model(to_tensor(data["x"][k:k + batch]))
            for name, o in zip(preds, outs):
                preds[name].append(o.argmax(1).numpy())
    p = {k: np.concatenate(v) for k, v in preds.items()}
    pos = data["letter"] < len(LETTERS)
    canon_ok = (p["letter"] == data["letter"]) & (~pos | (p["suffix"] == data["suffix"]))
    return {"canonical_accuracy": round(float(canon_ok.mean()), 4),
            "positive_accuracy": round(float(canon_ok[pos].mean()), 4),
            "negative_recall": round(float((p["letter"][~pos] == len(LETTERS)).mean()), 4)}


def train(args: argparse.Namespace) -> dict:
    import torch
    from torch import nn

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    t0 = time.time()
    tr = render(args.seed, 0, args.train, args.workers)
    va = render(args.seed, VAL_START, args.val, args.workers)
    render_s = time.time() - t0
    print(f"rendered {args.train} + {args.val} crops in {render_s:.0f} s", flush=True)

    model, Exported = build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * ((args.train + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    ce = nn.CrossEntropyLoss()
    ce_masked = nn.CrossEntropyLoss(reduction="none")
    x_all = to_tensor(tr["x"])
    y_letter = torch.from_numpy(tr["letter"])
    y_suffix = torch.from_numpy(tr["suffix"])
    y_lower = torch.from_numpy(tr["lower"])
    gen = torch.Generator().manual_seed(args.seed)
    history = []
    t1 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x_all), generator=gen)
        total = 0.0
        for k in range(0, len(perm), args.batch):
            idx = perm[k:k + args.batch]
            x = x_all[idx]
            # Shift by up to 2 px (boxes are never exact); torch.roll keeps it cheap and deterministic.
            dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
            x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            a, b, c = model(x)
            pos = (y_letter[idx] < len(LETTERS)).float()
            loss = ce(a, y_letter[idx]) + ((ce_masked(b, y_suffix[idx]) + 0.3 * ce_masked(c, y_lower[idx])) * pos).sum() / pos.sum().clamp(min=1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        acc = accuracy(model, va)
        history.append({"epoch": epoch + 1, "loss": round(total / len(perm), 4), **acc})
        print(json.dumps(history[-1]), flush=True)
    train_s = time.time() - t1

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    exported = Exported(model).eval()
    dummy = torch.zeros(2, 1, INPUT_H, INPUT_W)
    torch.onnx.export(exported, dummy, str(out / "letters.onnx"), input_names=["x"], output_names=["letter", "suffix", "lower"],
                      dynamic_axes={"x": {0: "n"}, "letter": {0: "n"}, "suffix": {0: "n"}, "lower": {0: "n"}},
                      opset_version=17, dynamo=False)
    fonts = font_files()
    card = {
        "model": "LetterNet (4 conv blocks + 1 hidden layer, 3 softmax heads)",
        "input": {"shape": [1, INPUT_H, INPUT_W], "meaning": "prepare_crop output resized to 24 px high, "
                  "left-aligned, padded white; value = 1 - grey/255"},
        "letter_classes": list(LETTERS) + ["<none>"], "suffix_classes": list(SUFFIXES), "lower_classes": ["upper", "lower"],
        "recipe": {"seed": args.seed, "train": args.train, "val": args.val, "val_start": VAL_START, "epochs": args.epochs,
                   "batch": args.batch, "lr": args.lr, "threads": args.threads, "torch": torch.__version__,
                   "fonts": {k: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for k, p in fonts.items()},
                   "command": f"python -m subfigure_detector.train_letters --out {args.out} --seed {args.seed} "
                              f"--train {args.train} --val {args.val} --epochs {args.epochs} --batch {args.batch} "
                              f"--lr {args.lr} --threads {args.threads}"},
        "synthetic_validation": history[-1], "history": history,
        "seconds": {"render": round(render_s, 1), "train": round(train_s, 1)},
        "onnx_sha256": hashlib.sha256((out / "letters.onnx").read_bytes()).hexdigest(),
    }
    (out / "letters.json").write_text(json.dumps(card, indent=1) + "\n")
    return card


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train", type=int, default=80_000)
    ap.add_argument("--val", type=int, default=8_000)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="rendering processes (do not change the data)")
    card = train(ap.parse_args(argv))
    print(json.dumps(card["synthetic_validation"]))


if __name__ == "__main__":
    main()
