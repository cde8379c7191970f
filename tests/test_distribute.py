"""tf.distribute: a mirrored step over two logical CPU devices equals the single-device step."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from stylenet.steps import Stepper
from tests.distfix import batch, setup

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
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow",
                                 "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("REPLICAS"))
    _, replicas, _, diff, _, state_diff = line.split()
    assert int(replicas) == 2
    assert float(diff) < 1e-5 and float(state_diff) < 1e-5
