"""Train the baselines shipped in ``minprune/pretrained/`` deterministically and record their sha256.

    python tools/make_pretrained.py              # every model
    python tools/make_pretrained.py lenet5       # one model

Each recipe is fixed (seed, epochs, learning rate), so running this again on the same NumPy/BLAS gives the
same weights; the checksums in ``SHA256SUMS`` are what ``minprune.models.pretrained`` verifies on load.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time

import numpy as np

from minprune import data, models, optim, serialize, train

RECIPES = {
    # name: (epochs, batch size, learning rate, momentum, weight decay, training samples (None = all 60 000))
    "lenet300_100": (20, 128, 0.05, 0.9, 5e-4, None),
    "lenet5": (4, 128, 0.05, 0.9, 5e-4, None),
    "resnet_mini": (2, 128, 0.05, 0.9, 5e-4, 12000),
    "mobilenet_mini": (3, 128, 0.05, 0.9, 5e-4, 12000),
}


def make(name: str) -> float:
    epochs, batch_size, lr, momentum, weight_decay, limit = RECIPES[name]
    rng = np.random.default_rng(0)
    model = models.MODELS[name](rng=rng)
    loader = data.DataLoader(data.mnist("train", limit=limit), batch_size=batch_size, shuffle=True, rng=rng)
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=epochs)
    start = time.perf_counter()
    train.fit(model, loader, optimizer, epochs=epochs, scheduler=scheduler, progress=False)
    train.recalibrate_batchnorm(model, loader)   # running statistics of the final weights (BatchNorm nets)
    test = train.evaluate(model, data.DataLoader(data.mnist("test"), batch_size=1000))
    print(f"{name}: test accuracy {test.accuracy:.4f}, loss {test.loss:.4f}, {time.perf_counter() - start:.0f} s")
    models.PRETRAINED_DIR.mkdir(exist_ok=True)
    serialize.save(model, models.PRETRAINED_DIR / f"{name}.npz")
    return test.accuracy


TINYGPT_RECIPE = {"steps": 600, "batch_size": 32, "lr": 3e-3, "weight_decay": 0.01}


def make_tinygpt() -> float:
    """Train TinyGPT on Tiny Shakespeare's training split; print the validation loss against the unigram
    baseline (the entropy of the character frequencies, what a model ignoring context achieves)."""
    recipe = TINYGPT_RECIPE
    rng = np.random.default_rng(0)
    text = data.tiny_shakespeare()
    tokenizer = data.CharTokenizer(text)
    train_ids, val_ids = tokenizer.encode(data.tiny_shakespeare("train")), tokenizer.encode(data.tiny_shakespeare("val"))
    model = models.TinyGPT(**models.TINYGPT_CONFIG, rng=rng)
    optimizer = optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    context = models.TINYGPT_CONFIG["context"]
    start = time.perf_counter()
    for step in range(recipe["steps"]):
        x, y = data.get_batch(train_ids, recipe["batch_size"], context, rng)
        for group in optimizer.param_groups:  # cosine decay to 10 % of the peak
            group["lr"] = recipe["lr"] * (0.55 + 0.45 * np.cos(np.pi * step / recipe["steps"]))
        loss = models.lm_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    val_rng = np.random.default_rng(1)
    val = float(np.mean([models.lm_loss(model(x), y).item()
                         for x, y in (data.get_batch(val_ids, 32, context, val_rng) for _ in range(20))]))
    counts = np.bincount(train_ids, minlength=tokenizer.vocab_size) / len(train_ids)
    unigram = float(-(counts[counts > 0] * np.log(counts[counts > 0])).sum())
    print(f"tinygpt: validation loss {val:.3f} nats (unigram baseline {unigram:.3f}), {seconds:.0f} s")
    models.PRETRAINED_DIR.mkdir(exist_ok=True)
    serialize.save(model, models.PRETRAINED_DIR / "tinygpt.npz")
    return val


def write_checksums():
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}"
             for p in sorted(models.PRETRAINED_DIR.glob("*.npz"))]
    (models.PRETRAINED_DIR / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"models to train, of {sorted(RECIPES) + ['tinygpt']} (default: all)")
    args = parser.parse_args(argv)
    choices = sorted(RECIPES) + ["tinygpt"]
    unknown = set(args.names) - set(choices)
    if unknown:
        parser.error(f"unknown model(s) {sorted(unknown)}; choose from {choices}")
    for name in args.names or choices:
        make_tinygpt() if name == "tinygpt" else make(name)
    write_checksums()


if __name__ == "__main__":
    sys.exit(main())
