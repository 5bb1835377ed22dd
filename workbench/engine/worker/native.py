"""llama.cpp knobs that llama-cpp-python's ``Llama`` does not expose, set at the narrowest point.

``Llama.__init__`` builds its llama_model_params and llama_context_params itself. Three settings
Workbench needs are missing there: ``use_extra_bufts`` (CPU weight repacking, which crashes on
CPUs that advertise AMX without permitting it), flash attention "auto" (llama.cpp's own default),
and the abort callback (to cancel a long prompt mid-evaluation). ``llama_params`` patches the two
factory points for the duration of one ``Llama(...)`` call only.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable, Iterator
from typing import Any

import llama_cpp
import llama_cpp.llama as llama_module

FLASH_ATTN_TYPES = {
    "on": llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED,
    "off": llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED,
    "auto": llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO,
}
KV_GGML_TYPES = {
    "f16": llama_cpp.GGML_TYPE_F16,
    "q8_0": llama_cpp.GGML_TYPE_Q8_0,
    "q4_0": llama_cpp.GGML_TYPE_Q4_0,
}


# ctypes.cast(None, ...) is a NULL pointer of that type; typeshed does not list None.
NO_ABORT_CALLBACK = ctypes.cast(None, llama_cpp.ggml_abort_callback)  # type: ignore[arg-type]


def make_abort_callback(should_abort: Callable[[], bool]) -> object:
    """A ggml abort callback; keep the returned object alive as long as the context lives."""

    def _callback(_data: ctypes.c_void_p) -> bool:
        return bool(should_abort())

    return llama_cpp.ggml_abort_callback(_callback)


@contextlib.contextmanager
def llama_params(*, repack: bool, flash_attn: str, abort_callback: object | None) -> Iterator[None]:
    """While active, every Llama() gets these model/context settings."""
    original_defaults = llama_module.llama_cpp.llama_model_default_params
    original_context = llama_module.internals.LlamaContext

    def model_defaults() -> llama_cpp.llama_model_params:
        params = original_defaults()
        params.use_extra_bufts = repack
        return params

    def context_factory(*, model: Any, params: Any, verbose: bool = True) -> Any:
        params.flash_attn_type = FLASH_ATTN_TYPES[flash_attn]
        if abort_callback is not None:
            params.abort_callback = abort_callback
            params.abort_callback_data = None
        return original_context(model=model, params=params, verbose=verbose)

    llama_module.llama_cpp.llama_model_default_params = model_defaults
    # a factory function stands in for the class for the duration of one Llama(...) call
    llama_module.internals.LlamaContext = context_factory  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        llama_module.llama_cpp.llama_model_default_params = original_defaults
        llama_module.internals.LlamaContext = original_context  # type: ignore[misc]


def token_piece(vocab: object, token: int, buf: ctypes.Array[ctypes.c_char] | None = None) -> bytes:
    """The bytes of one token (special tokens rendered empty), however long the piece is;
    ``buf`` is a scratch buffer to reuse (one is made when it is missing or too small)."""
    if buf is None:
        buf = ctypes.create_string_buffer(64)
    while True:
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, False)
        if n >= 0:
            return buf.raw[:n]
        buf = ctypes.create_string_buffer(-n)


class OneToken:
    """Decodes one token at a time after the last one in the context's sequence 0, through a
    batch made once (llama-cpp-python's ``eval`` rebuilds its batch for every token), and keeps
    the ``Llama`` object's token record in step so its prompt cache stays right."""

    def __init__(self, llm: llama_cpp.Llama) -> None:
        self._llm = llm
        self._token = (llama_cpp.llama_token * 1)()
        self._batch = llama_cpp.llama_batch_get_one(self._token, 1)  # positions: llama.cpp's

    def decode(self, token: int) -> None:
        """Decode ``token``; raises RuntimeError with llama.cpp's status when it fails."""
        llm = self._llm
        self._token[0] = token
        status = llama_cpp.llama_decode(llm.ctx, self._batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")
        llm.input_ids[llm.n_tokens] = token
        llm.n_tokens += 1
