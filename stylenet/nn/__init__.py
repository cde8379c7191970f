"""Neural-network plumbing shared by the models: the Keras backend (backend.py), the fused LSTM layer
(fused_lstm.py) and its NumPy forward pass (lstm.py), note networks read in NumPy (note_network.py),
checkpoints (checkpoint.py) and the two resumable training loops (epochs.py)."""
