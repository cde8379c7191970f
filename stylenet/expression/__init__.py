"""Expression: a whole performance from a score -- timing, articulation and pedal beside velocity.

    align        a score's notes matched to a recorded performance's, through their beat annotations
    notes        ScoreNotes / the score features the network reads / the targets a performance gives
    network      ExpressionNet: score features -> velocity, tempo, onset, duration, pedal per note (NumPy)
    realise      the network's output written into a MIDI file (moved notes or a tempo map, pedal)
    train        the Keras trainer (`stylenet train-expression`)

A pianist reading a score changes five things at once: how loud each note is (velocity), how fast the
music moves from beat to beat (tempo: rubato, ritardando), when each note sounds against its beat (chord
spread, melody lead, swing), how long it is held against its written length (articulation: legato,
staccato), and when the sustain pedal is down.  StyleNet's grid network writes the first; this wing
learns all five from aligned score-performance pairs (ASAP's recordings against their scores; the
hand-sequenced and played files of raw/ against their own nominal grid).
"""
