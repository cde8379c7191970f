"""The training step: its losses, and the same step under tf.distribute (two logical CPU devices; two worker
processes on 127.0.0.1)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import ROOT

# ------------------------------------------------------------------------------------------ losses


def _loss(kind, score, target, weight, predicted, spread_weight=0.0):
    from stylenet.nn.backend import import_keras

    import_keras()
    from stylenet.velocity.steps import velocity_loss

    return float(velocity_loss(kind, score.astype(np.float32), target.astype(np.float32),
                               weight.astype(np.float32), predicted.astype(np.float32), spread_weight))


def _two_notes():
    """One lane, 4 steps: key 0 struck at step 0 and held 3 steps (v 0.5), key 1 struck at step 2 (v 0.2)."""
    score = np.zeros((1, 4, 176))
    score[0, 0, 0:2] = 1
    score[0, 1:3, 1] = 1
    score[0, 2, 2:4] = 1
    target = np.zeros((1, 4, 88))
    target[0, 0:3, 0], target[0, 2, 1] = 0.5, 0.2
    predicted = np.zeros((1, 4, 88))
    predicted[0, 0:3, 0], predicted[0, 2, 1] = 0.3, 0.6  # errors -0.2 on key 0, +0.4 on key 1
    return score, target, predicted


def test_onset_loss_counts_each_struck_note_once_and_masked_loss_each_held_step():
    score, target, predicted = _two_notes()
    weight = np.ones((1, 4))
    assert _loss("onset_mse", score, target, weight, predicted) == pytest.approx((0.2 ** 2 + 0.4 ** 2) / 2)
    assert _loss("masked_mse", score, target, weight, predicted) == pytest.approx((3 * 0.2 ** 2 + 0.4 ** 2) / 4)
    assert _loss("mse", score, target, weight, predicted) == pytest.approx((3 * 0.2 ** 2 + 0.4 ** 2) / (4 * 88))
    weight[0, 2] = 0  # an unscored step (padding or context) drops key 1's strike
    assert _loss("onset_mse", score, target, weight, predicted) == pytest.approx(0.2 ** 2)


def test_spread_term_is_the_squared_difference_of_struck_note_spreads_per_lane():
    score, target, predicted = _two_notes()
    weight = np.ones((1, 4))
    base = _loss("onset_mse", score, target, weight, predicted)
    human_sd, model_sd = np.std([0.5, 0.2]), np.std([0.3, 0.6])
    with_spread = _loss("onset_mse", score, target, weight, predicted, spread_weight=3.0)
    assert with_spread == pytest.approx(base + 3.0 * (model_sd - human_sd) ** 2, abs=1e-6)
    # a lane with a single struck note has no spread and adds nothing
    weight[0, 2] = 0
    assert _loss("onset_mse", score, target, weight, predicted, 3.0) == pytest.approx(0.2 ** 2, abs=1e-6)


# ------------------------------------------------------------------------------------------ tf.distribute


MIRRORED = r"""
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from stylenet.velocity.steps import Stepper
from tests.helpers import distributed_batch as batch, distributed_setup as setup

strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
single, opt1 = setup(None)
mirrored, opt2 = setup(strategy)
for a, b in zip(single.variables, mirrored.variables):
    b.assign(a.numpy())
x, y, w, keep = batch()
s1, s2 = Stepper(single, opt1, "mse"), Stepper(mirrored, opt2, "mse", strategy)
st1, st2 = single.zero_states(4), mirrored.zero_states(4)
for genre in ["jazz", "pop", "jazz"]:
    l1, st1 = s1.train(genre, x, y, w, keep, st1)
    l2, st2 = s2.train(genre, x, y, w, keep, st2)
    assert abs(float(l1) - float(l2)) < 1e-5, (float(l1), float(l2))
diff = max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in zip(single.trainable_variables, mirrored.trainable_variables))
state_diff = max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for p, q in zip(st1, st2) for a, b in zip(p, q))
print("REPLICAS", strategy.num_replicas_in_sync, "DIFF", diff, "STATE", state_diff)
"""


def test_mirrored_step_matches_single_device_step():
    result = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow",
                                 "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("REPLICAS"))
    _, replicas, _, diff, _, state_diff = line.split()
    assert int(replicas) == 2
    assert float(diff) < 1e-5 and float(state_diff) < 1e-5


WORKER = r"""
import json, os, sys
import numpy as np, tensorflow as tf
from tensorflow.python.distribute.collective_all_reduce_strategy import coordination_config_pb2 as coordination
from tensorflow.python.eager import context
# TF's default 10 s heartbeat drops a worker that a loaded 2-core test machine starves for longer; the
# strategy keeps a coordination service configured before it.
workers = len(json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"])
context.context().configure_coordination_service(
    "standalone", "/job:worker/replica:0/task:0", heartbeat_timeout_in_ms=300_000,
    coordinated_jobs=[coordination.CoordinatedJob(name="worker", num_tasks=workers)])
strategy = tf.distribute.MultiWorkerMirroredStrategy()  # first: collectives are configured at start-up
from stylenet.velocity.steps import Stepper
from tests.helpers import distributed_batch as batch, distributed_setup as setup

single, opt1 = setup(None)
multi, opt2 = setup(strategy)
for a, b in zip(single.variables, multi.variables):
    b.assign(a.numpy())
x, y, w, keep = batch()  # every worker holds the same global batch and takes its own lanes
initial = [v.numpy() for v in single.trainable_variables]
l1, s1 = Stepper(single, opt1, "mse").train("jazz", x, y, w, keep, single.zero_states(4))
l2, s2 = Stepper(multi, opt2, "mse", strategy).train("jazz", x, y, w, keep, multi.zero_states(4))
states = max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for pa, pb in zip(s1, s2) for a, b in zip(pa, pb))
moved = max(float(np.abs(a.numpy() - b).max()) for a, b in zip(single.trainable_variables, initial))
diff = max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in zip(single.trainable_variables, multi.trainable_variables))
print("RESULT", json.dumps({"replicas": strategy.num_replicas_in_sync, "loss": [float(l1), float(l2)],
                            "diff": diff, "moved": moved, "state_diff": states,
                            "state_lanes": [int(np.asarray(h).shape[0]) for h, _ in s2]}))
"""


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_on_loopback_take_the_single_process_step():
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workers = []
    for index in range(2):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
               "CUDA_VISIBLE_DEVICES": "", "TF_CONFIG": json.dumps({"cluster": cluster,
                                                                     "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=300))
    except subprocess.TimeoutExpired:
        pytest.fail("the two workers did not finish their step in 300 s (collective never formed?)")
    finally:
        for worker in workers:
            worker.kill()
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
    results = [json.loads(next(x for x in out.splitlines() if x.startswith("RESULT"))[7:]) for out, _ in outputs]
    for result in results:
        assert result["replicas"] == 2
        assert abs(result["loss"][0] - result["loss"][1]) < 1e-5
        assert result["moved"] > 1e-3  # the step changed the weights, so equal weights mean equal steps
        assert result["diff"] < 1e-5
        assert all(lanes == 4 for lanes in result["state_lanes"])  # each worker gets back every lane's state
        assert result["state_diff"] < 1e-5  # ... equal to the single-process step's
