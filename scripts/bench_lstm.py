"""Training-step speed of keras.layers.LSTM vs stylenet.fast_lstm.FusedLSTM, side by side in one run.

    PYTHONPATH=. .venv/bin/python scripts/bench_lstm.py [--steps 12] [--model stack|stylenet|both]
                                    [--torch] [--threads N] [--torch-threads N]

`stack`: the paper model's LSTM stack on its own -- LSTM(176) on 176 inputs, 3 x bidirectional LSTM(176)
(forward half with carried state, backward half go_backwards + flip, concatenated), Dense(88), MSE, Adam.
`stylenet`: the real `stylenet.model.StyleNet` (one genre's step), built once with each LSTM class.

--torch adds the same stack in plain PyTorch (nn.LSTM, as ../shared/bench/torch_reference.py; `stack` only),
run by a child process: in one process, PyTorch's and TensorFlow's thread pools slow each other down a
hundredfold.

Batch 4 x 200 steps.  Each variant gets 2 warm-up steps, then the variants are timed in alternation, step by
step, so that load from other processes hits all alike.  Reports medians as time-steps per second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from unittest import mock

import numpy as np

B, T, F, U, K, GENRE_LAYERS = 4, 200, 176, 176, 88, 3


def inputs():
    rng = np.random.default_rng(0)
    return (rng.random((B, T, F)) < 0.05).astype("float32"), rng.random((B, T, K)).astype("float32")


def torch_worker():
    """Child process: the same stack in plain PyTorch (as ../shared/bench/torch_reference.py), one training
    step per line read from stdin, answering with its duration and loss."""
    import torch
    from torch import nn

    if int(os.environ.get("BENCH_TORCH_THREADS", 0)):
        torch.set_num_threads(int(os.environ["BENCH_TORCH_THREADS"]))
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.interp = nn.LSTM(F, U, batch_first=True)
            self.lstm = nn.LSTM(U, U, num_layers=GENRE_LAYERS, bidirectional=True, batch_first=True, dropout=0.2)
            self.drop = nn.Dropout(0.2)
            self.out = nn.Linear(2 * U, K)

        def forward(self, x):
            return self.out(self.drop(self.lstm(self.drop(self.interp(x)[0]))[0]))

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = (torch.from_numpy(a) for a in inputs())
    for _ in sys.stdin:
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = torch.mean((net(x) - y) ** 2)
        loss.backward()
        opt.step()
        loss = loss.item()
        print(time.perf_counter() - start, loss, flush=True)


if __name__ == "__main__" and sys.argv[1:] == ["--torch-worker"]:  # before TensorFlow is imported
    torch_worker()
    sys.exit()

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402

from stylenet.nn.fused_lstm import FusedLSTM  # noqa: E402


class Stack(keras.Model):
    """The StyleNet LSTM stack for one genre, with the LSTM class as a parameter."""

    def __init__(self, lstm):
        super().__init__()
        self.interpretation = lstm(U, return_sequences=True, return_state=True)
        self.drop = [layers.Dropout(0.2) for _ in range(GENRE_LAYERS + 1)]
        self.fwd = [lstm(U, return_sequences=True, return_state=True) for _ in range(GENRE_LAYERS)]
        self.bwd = [lstm(U, return_sequences=True, go_backwards=True) for _ in range(GENRE_LAYERS)]
        self.out = layers.Dense(K)

    def call(self, x, states, training=False):
        hidden, h, c = self.interpretation(x, initial_state=list(states[0]), training=training)
        new_states = [(h, c)]
        for i in range(GENRE_LAYERS):
            hidden = self.drop[i](hidden, training=training)
            forward, h, c = self.fwd[i](hidden, initial_state=list(states[i + 1]), training=training)
            backward = ops.flip(self.bwd[i](hidden, training=training), axis=1)
            hidden = ops.concatenate([forward, backward], axis=-1)
            new_states.append((h, c))
        return self.out(self.drop[-1](hidden, training=training)), new_states


def make_stack(lstm):
    model = Stack(lstm)
    zeros = np.zeros((B, U), "float32")
    model(np.zeros((B, T, F), "float32"), [(zeros, zeros)] * (GENRE_LAYERS + 1))  # build
    return model.trainable_variables, lambda x, states: model(x, states, training=True)


def make_stylenet(lstm):
    # model.py names `FusedLSTM` when it builds its layers; swap the class in for the build only.
    from stylenet.velocity import model as model_module

    with mock.patch.object(model_module, "FusedLSTM", lstm):
        model = model_module.build_model(["jazz", "classical"])
    assert all(type(l) is lstm for l in [model.interpretation] + model.genre_nets["jazz"].forward)
    # As stylenet/steps.py: a step updates the shared layer and the batch's genre.
    return model.genre_variables("jazz"), lambda x, states: model(x, genre="jazz", states=states, training=True)


def train_step(variables, forward):
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(variables)

    @tf.function
    def step(x, y, states):
        with tf.GradientTape() as tape:
            predicted, new_states = forward(x, states)
            loss = tf.reduce_mean(tf.square(predicted - y))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss, new_states

    return step


def torch_step():
    """A step function that has the torch worker do one step; returns (loss, states, the worker's timing)."""
    import subprocess

    child = subprocess.Popen([sys.executable, __file__, "--torch-worker"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)  # (inherits BENCH_TORCH_THREADS)

    def step(states):
        child.stdin.write("step\n")
        child.stdin.flush()
        seconds, loss = child.stdout.readline().split()
        return float(loss), states, float(seconds)

    step.close = lambda: (child.stdin.close(), child.wait())
    return step


def bench(kind: str, steps: int, with_torch: bool):
    make = make_stack if kind == "stack" else make_stylenet
    x, y = (tf.constant(a) for a in inputs())
    zeros = tf.zeros((B, U))
    candidates = [("keras.layers.LSTM", keras.layers.LSTM), ("FusedLSTM", FusedLSTM)]
    variants = {}
    for name, lstm in candidates:
        keras.utils.set_random_seed(0)  # same initial weights for all
        step = train_step(*make(lstm))
        variants[name] = {"step": lambda states, step=step: step(x, y, states)}
    if with_torch and kind == "stack":
        variants["torch nn.LSTM"] = {"step": torch_step()}
    for v in variants.values():
        v["states"], v["times"] = [(zeros, zeros)] * (GENRE_LAYERS + 1), []
        for _ in range(2):  # warm-up: tracing + first runs
            loss, v["states"], *_ = v["step"](v["states"])
        v["first_loss"] = float(loss)
    for _ in range(steps):
        for v in variants.values():
            time.sleep(0.2)  # let the previous variant's worker threads go idle
            start = time.perf_counter()
            loss, v["states"], *own_timing = v["step"](v["states"])
            float(loss)  # wait for the result
            v["times"].append(own_timing[0] if own_timing else time.perf_counter() - start)
    for v in variants.values():
        getattr(v["step"], "close", lambda: None)()

    print(f"\n[{kind}] batch {B} x {T} steps, {steps} timed training steps each (after 2 warm-up), "
          f"TF {tf.__version__}, Keras {keras.__version__}, intra-op threads "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'} (PyTorch: "
          f"{os.environ['BENCH_TORCH_THREADS'] if os.environ['BENCH_TORCH_THREADS'] != '0' else 'default'}) "
          f"of {os.cpu_count()} cores")
    rates = {}
    for name, v in variants.items():
        med = statistics.median(v["times"])
        rates[name] = B * T / med
        print(f"  {name:18s} median {med * 1000:8.1f} ms/step  (min {min(v['times']) * 1000:7.1f})  "
              f"{rates[name]:8.0f} time-steps/s   loss after warm-up {v['first_loss']:.5f}")
    for name in rates:
        if name != "keras.layers.LSTM":
            print(f"  {name} / keras.layers.LSTM: {rates[name] / rates['keras.layers.LSTM']:.2f}x")
    if "torch nn.LSTM" in rates:
        print(f"  FusedLSTM / torch nn.LSTM: {rates['FusedLSTM'] / rates['torch nn.LSTM']:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12, help="timed steps per variant (>= 10 recommended)")
    parser.add_argument("--model", choices=["stack", "stylenet", "both"], default="stack")
    parser.add_argument("--torch", action="store_true", help="also time the stack in PyTorch (stack only)")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads for TensorFlow and PyTorch alike (default: each library's own)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="PyTorch's threads, if not --threads (PyTorch's own threads spin-wait: on a busy "
                             "machine its default can be 100x slower than 1 thread)")
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    os.environ["BENCH_TORCH_THREADS"] = str(args.torch_threads if args.torch_threads is not None else args.threads)
    for kind in (["stack", "stylenet"] if args.model == "both" else [args.model]):
        bench(kind, args.steps, args.torch)


if __name__ == "__main__":
    main()
