"""StyleNet, the paper's model: a score in 1/16 notes in, a velocity for every note out.  Its config,
inputs, model, batches, pieces, training steps and loop (train.py), the NumPy performer that plays a trained
model (performer.py), how its velocities are shaped to a level and spread (shaping.py), its evaluation
against human velocities (evaluate.py) and the export of a shipped model (export.py)."""
