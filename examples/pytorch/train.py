#!/usr/bin/env python3
"""A small but complete PyTorch training run: a CNN on scikit-learn's bundled
8x8 digits (nothing is downloaded), on CPU, in a few seconds.

It does what a long run should do so that a supervisor such as trainctl can
stop, restart and resume it:

* checkpoints every N epochs with torch.save, written to a temporary name and
  renamed into place, so a reader never sees half a file;
* SIGTERM and SIGINT only set a flag: the loop finishes the current step,
  saves a checkpoint and exits 0;
* --resume PATH restores the model, the optimizer, the epoch and step, and
  every random number generator (torch, the shuffling generator, numpy,
  Python's random), so a resumed run continues exactly where it stopped;
* "Epoch N/M loss=... acc=..." progress lines;
* DataLoader workers (--workers N), kept alive for the whole run, so the job
  is a real process tree.

    python3 train.py --epochs 10 --workers 2 --checkpoint-dir ckpt
    python3 train.py --epochs 10 --workers 2 --checkpoint-dir ckpt \\
        --resume ckpt/epoch_0004.pt
"""
import argparse
import os
import signal
import sys

# Install the handlers before the slow imports below, so that a stop that
# arrives while torch loads is handled too.
STOP_SIGNAL = None


def request_stop(signum, frame):
    global STOP_SIGNAL
    STOP_SIGNAL = signum


signal.signal(signal.SIGTERM, request_stop)
signal.signal(signal.SIGINT, request_stop)

import random  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, Sampler, TensorDataset  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description="Train a small CNN on the 8x8 digits data set.")
    p.add_argument("--epochs", type=positive_int, metavar="N", default=10, help="epochs to train (default 10)")
    p.add_argument("--batch-size", type=positive_int, metavar="N", default=64, help="batch size (default 64)")
    p.add_argument("--lr", type=positive_float, metavar="LR", default=1e-2, help="Adam learning rate (default 1e-2)")
    p.add_argument("--seed", type=int, metavar="N", default=0, help="random seed (default 0)")
    p.add_argument("--workers", type=non_negative_int, metavar="N", default=0,
                   help="DataLoader worker processes (default 0: load in the main process)")
    p.add_argument("--threads", type=positive_int, metavar="N", default=1,
                   help="torch intra-op threads (default 1)")
    p.add_argument("--checkpoint-dir", metavar="DIR", default="ckpt", help="where checkpoints go (default ckpt)")
    p.add_argument("--checkpoint-every", type=positive_int, default=1, metavar="N",
                   help="save a checkpoint every N epochs and after the last (default 1)")
    p.add_argument("--resume", metavar="PATH", help="continue from this checkpoint")
    p.add_argument("--sleep-per-batch", type=non_negative_float, default=0.0, metavar="SECONDS",
                   help="sleep after every batch, to make a run last long enough to interrupt")
    return p.parse_args(argv)


def number(kind, accept, what):
    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number")
        if not accept(value):
            raise argparse.ArgumentTypeError(f"'{text}' is not {what}")
        return value
    return convert


positive_int = number(int, lambda v: v > 0, "a positive integer")
non_negative_int = number(int, lambda v: v >= 0, "a non-negative integer")
positive_float = number(float, lambda v: v > 0, "a positive number")
non_negative_float = number(float, lambda v: v >= 0, "a non-negative number")


class Net(nn.Module):
    """Two 3x3 convolutions with pooling, then a linear classifier."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(32 * 2 * 2, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class EpochSampler(Sampler):
    """Batches of one epoch's shuffled order, from a given step on.

    The order is drawn by begin_epoch() in the main process, from a generator
    whose state the checkpoint keeps; the DataLoader asks for a fresh iterator
    every epoch (its persistent workers stay), so a resumed run can skip the
    steps it already did and see exactly the batches it would have seen.
    """

    def __init__(self, n, batch_size, generator):
        self.n = n
        self.batch_size = batch_size
        self.generator = generator
        self.order = []
        self.first_step = 0

    def begin_epoch(self, first_step):
        self.order = torch.randperm(self.n, generator=self.generator).tolist()
        self.first_step = first_step

    def __iter__(self):
        for start in range(self.first_step * self.batch_size, self.n, self.batch_size):
            yield self.order[start:start + self.batch_size]

    def __len__(self):
        return (self.n + self.batch_size - 1) // self.batch_size - self.first_step


def worker_init(worker_id):
    # A stop signal goes to the whole process group. The main process handles
    # it at the end of the current step and then shuts its workers down; a
    # worker killed by it first would make the DataLoader raise in the middle
    # of that step. If the main process dies, torch's worker watchdog ends
    # the workers.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def load_digits(seed):
    """The digits as 1x8x8 tensors in [0, 1], split 80/20 by a seeded permutation."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.from_numpy(np.random.RandomState(seed).permutation(len(y)))
    cut = len(y) * 4 // 5
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def rng_state(shuffle):
    return {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state(),
            "numpy": np.random.get_state(), "python": random.getstate()}


def rng_restore(state, shuffle):
    torch.set_rng_state(state["torch"])
    shuffle.set_state(state["shuffle"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save_checkpoint(path, state):
    """torch.save to PATH.tmp, fsync, rename: PATH is always a complete file."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def checkpoint_path(directory, epoch):
    return os.path.join(directory, f"epoch_{epoch:04d}.pt")


def evaluate(model, x, y):
    model.eval()
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    model.train()
    return accuracy


class Run:
    """Where training stands: the epoch in progress and its partial sums."""

    def __init__(self):
        self.epoch = 1  # the epoch in progress, from 1
        self.step = 0  # steps of it already done
        self.loss_sum = 0.0
        self.seen = 0
        self.shuffle_state = None  # the shuffling generator before this epoch's order

    def state(self):
        return {"epoch": self.epoch, "step": self.step, "loss_sum": self.loss_sum,
                "seen": self.seen, "shuffle_state": self.shuffle_state}

    def restore(self, state):
        self.__dict__.update(state)


def checkpoint_state(args, run, model, optimizer, shuffle):
    return {"args": vars(args), "run": run.state(), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "rng": rng_state(shuffle)}


def resume(args, run, model, optimizer, shuffle):
    try:
        ckpt = torch.load(args.resume, weights_only=False)
        # The seed draws the train/test split and the batch size cuts the
        # epochs into steps: with others the run would not continue the same.
        for name in ("seed", "batch_size"):
            if ckpt["args"][name] != getattr(args, name):
                raise ValueError(f"it was saved with --{name.replace('_', '-')} "
                                 f"{ckpt['args'][name]}, not {getattr(args, name)}")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        run.restore(ckpt["run"])
        rng_restore(ckpt["rng"], shuffle)
    except Exception as e:  # whatever makes the file unusable
        sys.exit(f"train.py: error: cannot resume from {args.resume}: {e}")
    print(f"resumed from {args.resume} at epoch {run.epoch} step {run.step}", flush=True)


def train(args):
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    (x_train, y_train), (x_test, y_test) = load_digits(args.seed)

    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    shuffle = torch.Generator().manual_seed(args.seed)
    run = Run()
    steps = (len(y_train) + args.batch_size - 1) // args.batch_size
    print(f"train.py: pid {os.getpid()}, {args.epochs} epochs of {steps} steps, "
          f"{args.workers} workers", flush=True)
    saved = None  # the checkpoint that holds the current state, if any
    if args.resume:
        resume(args, run, model, optimizer, shuffle)
        saved = args.resume
    os.makedirs(args.checkpoint_dir, exist_ok=True)

    # The loader gets a generator of its own: without one it would seed its
    # workers from the global RNG and a resumed run would draw other dropout masks.
    sampler = EpochSampler(len(y_train), args.batch_size, shuffle)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_sampler=sampler,
                        num_workers=args.workers, persistent_workers=args.workers > 0,
                        worker_init_fn=worker_init if args.workers else None,
                        generator=torch.Generator().manual_seed(args.seed))
    loss_fn = nn.CrossEntropyLoss()

    while run.epoch <= args.epochs and STOP_SIGNAL is None:
        if run.step == 0:
            run.shuffle_state = shuffle.get_state()
        else:
            # Resumed mid-epoch: draw this epoch's order again.
            shuffle.set_state(run.shuffle_state)
        sampler.begin_epoch(run.step)
        started = time.monotonic()
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            run.step += 1
            run.loss_sum += loss.item() * len(y)
            run.seen += len(y)
            saved = None
            if args.sleep_per_batch:
                time.sleep(args.sleep_per_batch)
            if STOP_SIGNAL is not None:
                break
        if run.step < steps:
            break
        accuracy = evaluate(model, x_test, y_test)
        print(f"Epoch {run.epoch}/{args.epochs} loss={run.loss_sum / run.seen:.4f} "
              f"acc={accuracy:.4f} ({time.monotonic() - started:.1f}s)", flush=True)
        done = run.epoch
        run.epoch, run.step, run.loss_sum, run.seen = done + 1, 0, 0.0, 0
        if done % args.checkpoint_every == 0 or done == args.epochs:
            saved = checkpoint_path(args.checkpoint_dir, done)
            save_checkpoint(saved, checkpoint_state(args, run, model, optimizer, shuffle))

    # Shut the workers down before the interpreter exits.
    del loader
    if run.epoch > args.epochs:
        print("Training complete", flush=True)
        return 0
    name = signal.Signals(STOP_SIGNAL).name
    if run.epoch == 1 and run.step == 0 and saved is None:
        print(f"Received {name} before the first step; nothing to save", flush=True)
        return 0
    if saved is None:
        # Mid-epoch the checkpoint is named after the epoch in progress, and
        # between epochs after the last finished one.
        saved = checkpoint_path(args.checkpoint_dir, run.epoch if run.step else run.epoch - 1)
        save_checkpoint(saved, checkpoint_state(args, run, model, optimizer, shuffle))
    print(f"Received {name} at epoch {run.epoch} step {run.step}/{steps}, "
          f"checkpoint saved to {saved}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(train(parse_args(sys.argv[1:])))
