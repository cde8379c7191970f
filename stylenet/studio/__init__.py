"""`stylenet studio`: a local web page where a musician drops MIDI files, hears them before and after, and
downloads the performance.  jobs.py holds the work (the play step and the renderer, on a small pool of
threads, within stated bounds); app.py the web server and its JSON interface; page.html the page."""
