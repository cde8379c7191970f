"""Listening: audio of MIDI with a piano SoundFont (render.py), excerpts cut at note boundaries
(clips.py), and the listening tests (survey/: build, serve, score)."""
