"""Inference: the worker process (the only importer of llama_cpp), its protocol and its client."""
