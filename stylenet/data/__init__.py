"""The data: building a dataset from a folder of MIDI (build.py), reading it back (read.py), and every
hold-out rule -- test, validation, ASAP works -- in one module (splits.py)."""
