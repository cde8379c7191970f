"""What every wing stands on: MIDI files in and out (midifile.py), the paper's score and velocity matrices
(codec.py), beat annotations and re-timing onto them (beats.py), a played piece's notes, chords and pedal
(notes.py), one-line errors (errors.py), atomic writes (fileio.py), typed YAML config (config.py) and plots
(plots.py).  No model and no training here."""
