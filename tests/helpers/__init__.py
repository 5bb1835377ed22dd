"""Helpers the tests share that are not fakes (the fakes are in tests/fakes/; the fixtures in
tests/conftest.py and tests/gui/conftest.py):

- ``engine``: llama.cpp's own buffer sizes for a load (to check the planner against);
- ``gguf_bytes``: a byte-level GGUF builder that writes anything, valid or not;
- ``gui``: steps of the GUI tests (load a model through the window, send a prompt, wait);
- ``hub``: ``HubEnv`` (what the ``hub_env`` fixture yields) and small GGUF files to serve;
- ``measured_answers``: stored answers as Chat, Compare and Bench leave them in SQLite;
- ``real_models``: real trained GGUF models fetched with pip and verified;
- ``retry``: the providers' retry waits, recorded (what was waited for, not how long it took);
- ``work``: work counted in function calls (a bound that does not depend on the machine's load).
"""
