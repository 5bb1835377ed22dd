"""Stand-ins for what cannot exist here (the one home for fakes; helpers that are not fakes are
in tests/helpers/, fixtures in tests/conftest.py):

- ``http_base``: a loopback HTTP server whose behaviour a test scripts;
- ``openai_faults``, ``anthropic_sse``: OpenAI-compatible and Anthropic SSE cloud APIs on it;
- ``hub_server``: a loopback Hugging Face Hub and its CDN, with faults;
- ``file_server``: a loopback file server with the behaviours remote GGUF reads meet;
- ``keyring_backend``: a throwaway in-memory keyring backend;
- ``nvml``: a fake ``pynvml`` module (NVML's boundary) with described GPUs and errors;
- ``clock``: a clock that moves only when told (reads, sleeps, actions at a time).
"""
