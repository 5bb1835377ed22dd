"""What the ``hub_env`` fixture (tests/conftest.py) yields, and small GGUF files for the fake Hub
(tests/fakes/hub_server.py) to serve."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.hub_server import FakeHub
from tests.fakes.keyring_backend import MemoryKeyring

# Variables the hub_env fixture removes, so no token or offline switch of this machine leaks in.
ISOLATED_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                 "HF_HUB_CACHE", "HF_TOKEN_PATH", "HF_HUB_DISABLE_IMPLICIT_TOKEN")


@dataclass
class HubEnv:
    """The environment a test runs in: the fake Hub, an empty HF home and Workbench home."""

    hub: FakeHub
    hf_home: Path
    workbench_home: Path
    keyring: MemoryKeyring

    @property
    def cache_dir(self) -> Path:
        return self.hf_home / "hub"

    def subprocess_env(self, **extra: str) -> dict[str, str]:
        """os.environ as the fixture set it, for ``workbench`` child processes."""
        env = dict(os.environ)
        env.update(extra)
        return env


def synthetic_gguf(path: Path, *, n_embd: int = 64, n_layer: int = 2, vocab: int = 256,
                   seed: int = 0, name: str = "hub-test") -> Path:
    """A small valid GGUF (llama layout, F32 weights, about n_layer x 12 x n_embd^2 bytes)."""
    import gguf
    import numpy as np

    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(name)
    writer.add_context_length(2048)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_embd * 2)
    writer.add_head_count(4)
    writer.add_head_count_kv(4)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(0)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"t{i}" for i in range(vocab)])

    def tensor(name: str, *shape: int) -> None:
        writer.add_tensor(name, rng.standard_normal(shape).astype(np.float32))

    tensor("token_embd.weight", vocab, n_embd)
    for i in range(n_layer):
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            tensor(f"blk.{i}.{t}.weight", n_embd, n_embd)
        tensor(f"blk.{i}.ffn_gate.weight", n_embd * 2, n_embd)
        tensor(f"blk.{i}.ffn_up.weight", n_embd * 2, n_embd)
        tensor(f"blk.{i}.ffn_down.weight", n_embd, n_embd * 2)
        tensor(f"blk.{i}.attn_norm.weight", n_embd)
        tensor(f"blk.{i}.ffn_norm.weight", n_embd)
    tensor("output_norm.weight", n_embd)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def split_gguf(source: Path, out_dir: Path, stem: str, max_tensors: int) -> list[Path]:
    """Split a GGUF file into shards (``stem-0000i-of-0000n.gguf``) with gguf-py's writer."""
    import gguf

    reader = gguf.GGUFReader(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(out_dir / f"{stem}.gguf", arch, split_max_tensors=max_tensors)
    for item in reader.fields.values():
        if item.name == gguf.Keys.General.ARCHITECTURE or item.name.startswith("GGUF."):
            continue
        value_type = item.types[0]
        sub = item.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(item.name, item.contents(), value_type, sub_type=sub)
    for t in reader.tensors:
        writer.add_tensor(t.name, t.data, raw_shape=t.data.shape, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return sorted(out_dir.glob(f"{stem}-*-of-*.gguf"))
