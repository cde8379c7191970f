"""`train.distribute: multi_worker` for real: two worker processes on 127.0.0.1 (TF_CONFIG, loopback only)
take one synchronised step that equals the single-process step on the same batch."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

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
from stylenet.steps import Stepper
from tests.distfix import batch, setup

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
