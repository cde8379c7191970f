"""Recordings: what a played file's own timing says.  Whether a file looks recorded (grid.py), the beat
tracker (tracker.py) and its trainer (train_tracker.py), re-timing a recording onto annotated beats
(conform.py), and the touch network -- loudness heard in timing -- with its trainer (touch.py, train_touch.py)."""
