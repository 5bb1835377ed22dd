"""The inference worker: runs in its own process and is the only code that imports llama_cpp.

Start it with ``python -m workbench.engine.worker``; it speaks workbench.engine.protocol.
"""
