"""One loaded model and the answers it streams. Runs inside the worker process."""

from __future__ import annotations

import codecs
import ctypes
import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import llama_cpp
import numpy as np
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import json_schema_to_gbnf
from llama_cpp.llama_types import ChatCompletionRequestMessage

from workbench.engine.metrics import AnswerMetrics, rate
from workbench.engine.protocol import (
    BenchSamples,
    BenchStage,
    ErrorKind,
    FinishReason,
    ModelInfo,
    WorkerStats,
)
from workbench.engine.settings import LoadSettings, Sampling, physical_cores
from workbench.engine.tool_calls import (
    forced_call_schema,
    is_forced,
    template_messages,
    tool_format,
    uses_tools,
    wrap_grammar,
)
from workbench.engine.worker.chat_formats import BUILTIN, builtin_prompt, completion_prompt
from workbench.engine.worker.native import (
    KV_GGML_TYPES,
    NO_ABORT_CALLBACK,
    OneToken,
    llama_params,
    make_abort_callback,
    token_piece,
)
from workbench.engine.worker.sampler import TokenSampler
from workbench.engine.worker.template_guard import GuardedChatFormatter
from workbench.errors import BadInput

# Used when a GGUF has no chat template: a plain, readable transcript.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | capitalize }}: {{ m['content'] }}\n\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)
FALLBACK_STOP = "\nUser:"
GRAMMAR_CACHE_SIZE = 16  # grammars built from JSON schemas, kept per schema text


def inject_fault(stage: str, *, repack: bool) -> None:
    """Crash on purpose when WORKBENCH_WORKER_FAULT asks for it (tests of crash handling).

    Values: ``abort-on-load``, ``abort-on-repack`` (load with repacking on), ``segv-on-chat``,
    ``segv-on-embed``, ``hang-on-load`` (a load that takes a minute: tests of cancelling a
    load), ``hang-on-embed``.
    """
    fault = os.environ.get("WORKBENCH_WORKER_FAULT", "")
    if (fault == f"abort-on-{stage}") or (fault == "abort-on-repack" and stage == "load"
                                          and repack):
        print(f"workbench worker: fault injected ({fault})", file=sys.stderr, flush=True)
        os.abort()
    if fault == f"hang-on-{stage}":
        time.sleep(60)
    if fault == f"segv-on-{stage}":
        print(f"workbench worker: fault injected ({fault})", file=sys.stderr, flush=True)
        ctypes.string_at(0)


class HostError(Exception):
    """A request the worker survives but cannot serve; ``kind`` is a protocol ERROR_KINDS name."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


@dataclass
class Answer:
    finish_reason: FinishReason
    metrics: AnswerMetrics


@dataclass
class Embedded:
    """The answer to ``embed``: one unit-length vector per input (little-endian float32
    bytes) and each input's token count; nothing when cancelled."""

    vectors: list[bytes]
    tokens: list[int]
    cancelled: bool = False


# How an embedding is pooled from the token vectors, by llama.cpp's pooling type: the GGUF's
# own type; mean when it declares none (decoder models: one vector per token otherwise).
POOLING_NAMES = {llama_cpp.LLAMA_POOLING_TYPE_MEAN: "mean", llama_cpp.LLAMA_POOLING_TYPE_CLS:
                 "cls", llama_cpp.LLAMA_POOLING_TYPE_LAST: "last"}


class ModelHost:
    """Holds at most one llama.cpp model; ``cancel`` is set from another thread."""

    def __init__(self) -> None:
        self.llm: llama_cpp.Llama | None = None
        self._loras: list[Any] = []  # llama_adapter_lora pointers, freed before the model
        self.settings: LoadSettings | None = None
        self.info: ModelInfo | None = None
        self.cancel = threading.Event()
        self._abort = make_abort_callback(self.cancel.is_set)
        self._formatter: Jinja2ChatFormatter | None = None
        self._grammars: dict[str, llama_cpp.LlamaGrammar] = {}

    # -- loading ---------------------------------------------------------------------------
    def load(self, settings: LoadSettings) -> ModelInfo:
        self.unload()
        if not os.path.isfile(settings.model_path):
            raise HostError("load_failed", f"no such model file: {settings.model_path}")
        threads = settings.threads or physical_cores()
        repack = bool(settings.repack)
        inject_fault("load", repack=repack)
        started = time.perf_counter()
        pooling = llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED
        n_batch, n_ubatch = settings.n_batch, settings.n_ubatch
        if settings.embedding:
            pooling, trained = _embedding_pooling(settings.model_path)
            # each input is decoded whole, in one micro-batch (LoadSettings.embedding_load)
            n_batch = n_ubatch = settings.n_ctx or trained or settings.n_batch
        llm: llama_cpp.Llama | None = None
        try:
            with llama_params(
                repack=repack, flash_attn=settings.flash_attn, abort_callback=None
            ):
                llm = llama_cpp.Llama(
                    model_path=settings.model_path,
                    n_ctx=settings.n_ctx,
                    n_gpu_layers=settings.n_gpu_layers,
                    n_batch=n_batch,
                    n_ubatch=n_ubatch,
                    embedding=settings.embedding,
                    pooling_type=pooling,
                    n_threads=threads,
                    n_threads_batch=threads,
                    seed=settings.seed if settings.seed >= 0 else llama_cpp.LLAMA_DEFAULT_SEED,
                    type_k=KV_GGML_TYPES[settings.kv_type],
                    type_v=KV_GGML_TYPES[settings.kv_type],
                    use_mmap=settings.use_mmap,
                    swa_full=settings.swa_full,
                    verbose=True,
                )
            if settings.loras:
                self._apply_loras(llm, settings.loras)
            if settings.embedding:
                print(f"workbench worker: embeddings pooled by {POOLING_NAMES[pooling]}",
                      file=sys.stderr, flush=True)
                self._embed_batch(llm, [[_warm_up_token(llm)]])
            else:
                _warm_up(llm)
        except (ValueError, RuntimeError) as err:
            if llm is not None and self._loras:
                self._free_loras(llm)
                llm.close()
            raise HostError("load_failed", f"llama.cpp could not load the model: {err}") from None
        load_ms = (time.perf_counter() - started) * 1000.0
        self.llm, self.settings = llm, settings
        metadata = dict(llm.metadata)
        template = metadata.get("tokenizer.chat_template")
        self._formatter = GuardedChatFormatter(  # bounded in time and size: untrusted code
            template=template or FALLBACK_TEMPLATE,
            eos_token=_token_text(llm, llm.token_eos()),
            bos_token=_token_text(llm, llm.token_bos()),
            name=str(metadata.get("general.name") or os.path.basename(settings.model_path)),
        )
        self.info = ModelInfo(
            model_path=settings.model_path,
            architecture=_optional_text(metadata.get("general.architecture")),
            name=_optional_text(metadata.get("general.name")),
            n_params=llm._model.n_params(),
            model_size_bytes=llm._model.size(),
            n_vocab=llm.n_vocab(),
            n_ctx=llm.n_ctx(),
            n_ctx_train=llm._model.n_ctx_train(),
            chat_template=template is not None,
            load_ms=load_ms,
            threads=threads,
            repack=repack,
            flash_attn=settings.flash_attn,
            kv_type=settings.kv_type,
            n_gpu_layers=settings.n_gpu_layers,
            gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()),
            llama_cpp_version=llama_cpp.__version__,
            tool_format=tool_format(template),
            loras=settings.loras,
        )
        return self.info

    def _apply_loras(self, llm: llama_cpp.Llama, loras: tuple[tuple[str, float], ...]) -> None:
        """Load each adapter (kept until unload) and set them all on the context at their
        scales. An adapter llama.cpp refuses frees the ones before it and the model, then
        raises HostError (the fit check before the load keeps that for unforeseen cases)."""
        for path, _scale in loras:
            handle = (llama_cpp.llama_adapter_lora_init(llm.model, os.fsencode(path))
                      if os.path.isfile(path) else None)
            if not handle:
                self._free_loras(llm)
                llm.close()
                raise HostError("load_failed", f"llama.cpp could not load the LoRA adapter "
                                f"{path} (its log says why)" if os.path.isfile(path)
                                else f"no such LoRA adapter file: {path}")
            self._loras.append(handle)
        handles = (llama_cpp.llama_adapter_lora_p_ctypes * len(loras))(*self._loras)
        scales = (ctypes.c_float * len(loras))(*(scale for _path, scale in loras))
        if llama_cpp.llama_set_adapters_lora(llm.ctx, handles, len(loras), scales):
            self._free_loras(llm)
            llm.close()
            raise HostError("load_failed", "llama.cpp could not apply the LoRA adapters")
        print(f"workbench worker: {len(loras)} LoRA adapter(s) applied: "
              + ", ".join(f"{os.path.basename(p)} x{s:g}" for p, s in loras),
              file=sys.stderr, flush=True)

    def _free_loras(self, llm: llama_cpp.Llama) -> None:
        """Take the adapters off the context and free them: before the model is freed (which
        frees any adapter still registered with it)."""
        if not self._loras:
            return
        llama_cpp.llama_set_adapters_lora(llm.ctx, None, 0, None)
        for handle in self._loras:
            llama_cpp.llama_adapter_lora_free(handle)
        self._loras = []

    def unload(self) -> None:
        if self.llm is not None:
            self._free_loras(self.llm)
            self.llm.close()
        self.llm, self.settings, self._formatter, self.info = None, None, None, None

    # -- answering -------------------------------------------------------------------------
    def chat(
        self,
        messages: list[dict[str, Any]],
        sampling: Sampling,
        emit: Callable[[str, int], None],
    ) -> Answer:
        """Stream the answer to ``messages`` through ``emit``; stops early when cancel is set."""
        llm, formatter = self.llm, self._formatter
        if llm is None or formatter is None:
            raise HostError("no_model", "no model is loaded")
        if self.settings is not None and self.settings.embedding:
            raise HostError("bad_request", "the model is loaded for embeddings: load it "
                            "without embedding to chat")
        t_sent = time.perf_counter()
        inject_fault("chat", repack=bool(self.info and self.info.repack))
        text_prompt, stops = self._prompt(messages, sampling.chat_format, formatter,
                                          tools=sampling.tools)
        stops = [*stops, *sampling.stop]  # the caller's own end the answer the same way
        bos_text = _token_text(llm, llm.token_bos())
        add_bos = llm._model.add_bos_token() and not (
            bos_text and text_prompt.startswith(bos_text)
        )
        # Completion mode continues the user's own text: special-token text in it stays text.
        prompt = llm.tokenize(text_prompt.encode(), add_bos=add_bos,
                              special=sampling.chat_format != "completion")
        n_ctx = llm.n_ctx()
        if len(prompt) >= n_ctx:
            raise HostError(
                "context_overflow",
                f"the conversation is {len(prompt)} tokens, the context holds {n_ctx}: "
                "start a new chat or load the model with a longer context",
            )
        budget = min(sampling.max_tokens, n_ctx - len(prompt))
        if sampling.seed is not None:
            # Reproducible answers: llama.cpp's results depend (in the last bits) on how the
            # prompt was batched, so a seeded answer never reuses a cached prefix.
            llm.set_seed(sampling.seed)
            llm.reset()
        vocab = llm._model.vocab
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text, held = "", ""
        n_out = 0
        finish: FinishReason = "length"
        t_first: float | None = None
        t_first_token = t_last_token = 0.0
        grammar = self._answer_grammar(llm, sampling)
        llama_cpp.llama_perf_context_reset(llm.ctx)
        sampler = TokenSampler(llm, sampling, grammar)
        one = OneToken(llm)
        piece_buf = ctypes.create_string_buffer(64)
        # llama.cpp calls the abort callback between every graph node: a Python call each time.
        # It is worth that while the prompt is evaluated (a long prompt can then be cancelled);
        # during generation the flag is checked between tokens instead, at no cost.
        llama_cpp.llama_set_abort_callback(llm.ctx, self._abort, None)
        armed = True
        try:
            _feed_prompt(llm, prompt)
            llama_cpp.llama_set_abort_callback(llm.ctx, NO_ABORT_CALLBACK, None)
            armed = False
            while True:
                if self.cancel.is_set():
                    finish = "cancelled"
                    break
                token = sampler.sample()
                if llama_cpp.llama_vocab_is_eog(vocab, token) and not sampling.ignore_eos:
                    finish = "stop"
                    break
                n_out += 1
                t_last_token = time.perf_counter()
                if n_out == 1:
                    t_first_token = t_last_token
                piece = decoder.decode(token_piece(vocab, token, piece_buf))
                if piece:
                    held += piece
                    held, out, hit = _split_stop(held, stops)
                    if out:
                        if t_first is None:
                            t_first = time.perf_counter()
                        text += out
                        emit(out, n_out)
                    if hit:
                        finish = "stop"
                        break
                if n_out >= budget:
                    break
                one.decode(token)
        except RuntimeError as err:
            if not self.cancel.is_set():
                raise HostError("internal", f"llama.cpp failed while generating: {err}") from None
            finish = "cancelled"
            llm.reset()  # an aborted decode leaves the KV cache half-written
            llm._ctx.kv_cache_clear()
        finally:
            sampler.close()
            if armed:
                llama_cpp.llama_set_abort_callback(llm.ctx, NO_ABORT_CALLBACK, None)
        if finish != "stop" and held:
            if t_first is None:
                t_first = time.perf_counter()
            emit(held, n_out)
        t_done = time.perf_counter()
        perf = llama_cpp.llama_perf_context(llm.ctx)
        metrics = AnswerMetrics(
            ttft_ms=(t_first - t_sent) * 1000.0 if t_first is not None else None,
            prompt_tokens=len(prompt),
            prompt_eval_tokens=perf.n_p_eval,
            prompt_ms=perf.t_p_eval_ms,
            prompt_tokens_per_s=rate(perf.n_p_eval, perf.t_p_eval_ms),
            completion_tokens=n_out,
            gen_eval_tokens=perf.n_eval,
            gen_ms=perf.t_eval_ms,
            gen_tokens_per_s=rate(perf.n_eval, perf.t_eval_ms),
            total_ms=(t_done - t_sent) * 1000.0,
            stream_tokens_per_s=rate(n_out - 1, (t_last_token - t_first_token) * 1000.0),
            load_ms=self.info.load_ms if self.info else None,
        )
        return Answer(finish_reason=finish, metrics=metrics)

    def embed(self, inputs: list[str]) -> Embedded:
        """One pooled, unit-length vector per input (see POOLING_NAMES), as llama.cpp's own
        embedding tools make them: each input tokenized with the model's special tokens
        (BOS/EOS as its metadata asks; special-token text in the input stays text), decoded
        whole, several inputs to one batch. An input longer than the context is refused,
        never cut. Stops between batches (and mid-batch) when cancel is set."""
        llm = self.llm
        if llm is None:
            raise HostError("no_model", "no model is loaded")
        if self.settings is None or not self.settings.embedding:
            raise HostError("bad_request", "the model is loaded for chat: load it with "
                            "embedding on to embed")
        inject_fault("embed", repack=bool(self.info and self.info.repack))
        # the longest input: one micro-batch (n_batch and n_ubatch are the context here)
        limit = min(llm.n_ctx(), llm.n_batch, llm.context_params.n_ubatch)
        tokenized: list[list[int]] = []
        for i, text in enumerate(inputs):
            tokens = llm.tokenize(text.encode(), add_bos=True, special=False)
            if not tokens:
                raise HostError("bad_request", f"input {i} is empty: it has no tokens")
            if len(tokens) > limit:
                raise HostError("context_overflow", f"input {i} is {len(tokens)} tokens, the "
                                f"context holds {limit}: nothing was cut; load the model with "
                                "a longer context or shorten the input")
            tokenized.append(tokens)
        # several inputs to a batch: at most n_batch tokens and n_seq_max sequences in all
        n_seq_max = max(1, int(llm.context_params.n_seq_max))
        groups: list[list[list[int]]] = [[]]
        used = 0
        for tokens in tokenized:
            if groups[-1] and (used + len(tokens) > limit or len(groups[-1]) >= n_seq_max):
                groups.append([])
                used = 0
            groups[-1].append(tokens)
            used += len(tokens)
        vectors: list[bytes] = []
        for group in groups:
            pooled = None if self.cancel.is_set() else self._embed_batch(llm, group,
                                                                         abortable=True)
            if pooled is None:
                return Embedded([], [], cancelled=True)
            vectors.extend(pooled)
        return Embedded(vectors, [len(t) for t in tokenized])

    def _embed_batch(self, llm: llama_cpp.Llama, group: list[list[int]], *,
                     abortable: bool = False) -> list[bytes] | None:
        """Decode ``group`` (one sequence each) in one batch: each sequence's pooled vector,
        normalised; None when cancel stopped the decode."""
        batch = llm._batch
        batch.reset()
        llm._ctx.kv_cache_clear()
        for seq, tokens in enumerate(group):
            batch.add_sequence(tokens, seq, True)  # every token an output: pooling reads them
        if abortable:
            llama_cpp.llama_set_abort_callback(llm.ctx, self._abort, None)
        try:
            llm._ctx.decode(batch)
        except RuntimeError as err:
            if abortable and self.cancel.is_set():
                return None
            raise HostError("internal", f"llama.cpp failed while embedding: {err}") from None
        finally:
            if abortable:
                llama_cpp.llama_set_abort_callback(llm.ctx, NO_ABORT_CALLBACK, None)
            batch.reset()
        n_embd = llm.n_embd()
        vectors = []
        for seq in range(len(group)):
            pointer = llama_cpp.llama_get_embeddings_seq(llm.ctx, seq)
            if not pointer:
                raise HostError("internal", "llama.cpp gave no pooled embedding")
            values = np.ctypeslib.as_array(pointer, shape=(n_embd,)).astype(np.float64)
            norm = float(np.linalg.norm(values))
            if not np.isfinite(norm):
                raise HostError("internal", "llama.cpp gave an embedding that is not finite")
            if norm > 0:
                values /= norm
            vectors.append(values.astype("<f4").tobytes())
        llm._ctx.kv_cache_clear()
        return vectors

    def _answer_grammar(self, llm: llama_cpp.Llama,
                        sampling: Sampling) -> llama_cpp.LlamaGrammar | None:
        """The grammar an answer is sampled through: its JSON schema's, or a forced tool
        call's (in the template's format); None when the answer is free."""
        if sampling.json_schema:
            return self._grammar(llm, sampling.json_schema)
        fmt = self.info.tool_format if self.info else None
        if sampling.tools and fmt and is_forced(sampling.tool_choice):
            schema = forced_call_schema(json.loads(sampling.tools), sampling.tool_choice, fmt)
            return self._grammar(llm, json.dumps(schema), wrap=fmt)
        return None

    def _grammar(self, llm: llama_cpp.Llama, schema: str,
                 wrap: str | None = None) -> llama_cpp.LlamaGrammar:
        """llama.cpp's grammar for a JSON schema (cached per schema text). Its root is the JSON
        value and at most one space: once the JSON is complete only an end-of-generation token
        can be sampled, so the answer ends there. A schema the converter or llama.cpp's grammar
        parser rejects is a bad request."""
        key = f"{wrap}:{schema}" if wrap else schema
        grammar = self._grammars.get(key)
        if grammar is not None:
            return grammar
        try:
            if wrap:  # a tool call: the JSON inside the format's own text
                gbnf = wrap_grammar(json_schema_to_gbnf(schema), wrap)
                grammar = llama_cpp.LlamaGrammar.from_string(gbnf, verbose=False)
            else:
                grammar = llama_cpp.LlamaGrammar.from_json_schema(schema, verbose=False)
        except Exception as err:  # the converter asserts, raises ValueError, KeyError, ...
            detail = str(err) or type(err).__name__
            raise HostError("bad_request", "the JSON schema cannot be turned into a grammar: "
                            f"{detail[:200]}") from None
        # llama.cpp parses the grammar when a sampler is made: NULL when it cannot (a sampler
        # chain given NULL would crash later), so try it once here
        sampler = llama_cpp.llama_sampler_init_grammar(
            llm._model.vocab, grammar._grammar.encode(), grammar._root.encode())
        if not sampler:
            raise HostError("bad_request", "llama.cpp cannot parse the grammar made from the "
                            "JSON schema (very large bounds such as maxLength or maxItems can "
                            "do that; its log says why)")
        llama_cpp.llama_sampler_free(sampler)
        if len(self._grammars) >= GRAMMAR_CACHE_SIZE:
            self._grammars.pop(next(iter(self._grammars)))
        self._grammars[key] = grammar
        return grammar

    def _prompt(self, messages: list[dict[str, Any]], chat_format: str,
                formatter: Jinja2ChatFormatter,
                tools: str | None = None) -> tuple[str, list[str]]:
        """The prompt text for ``messages`` in ``chat_format`` and the strings that end a turn;
        ``tools`` (JSON text) go to a template that takes them."""
        if tools is not None or uses_tools(messages):
            return self._tools_prompt(messages, chat_format, formatter, tools)
        if chat_format == "completion":
            return completion_prompt(messages), []
        if chat_format in BUILTIN:
            try:
                return builtin_prompt(chat_format, messages)
            except BadInput as err:
                raise HostError("bad_request", str(err)) from None
        try:
            # the OpenAI-shaped dicts the protocol carries (llama_cpp types them as TypedDicts)
            formatted = formatter(messages=cast("list[ChatCompletionRequestMessage]", messages))
        except Exception as err:  # the template is untrusted input (sandboxed Jinja)
            raise HostError("bad_request", f"the chat template failed: {err}") from None
        stops = [s for s in _as_list(formatted.stop) if s]
        if not (self.info and self.info.chat_template):
            stops.append(FALLBACK_STOP)  # a base model would write the next turn itself
        return formatted.prompt, stops

    def _tools_prompt(self, messages: list[dict[str, Any]], chat_format: str,
                      formatter: Jinja2ChatFormatter,
                      tools: str | None) -> tuple[str, list[str]]:
        """A conversation with tools, or with tool calls and results: only the GGUF's own
        template knows how its model reads and writes them."""
        fmt = self.info.tool_format if self.info else None
        if chat_format != "auto" or fmt is None:
            why = (f"the chat format {chat_format!r} is not the model's own template"
                   if chat_format != "auto" else "the model's chat template takes no tools")
            raise HostError("bad_request", f"tool calls need a chat template that takes tools: "
                            f"{why}")
        try:
            formatted = formatter(
                messages=cast("list[ChatCompletionRequestMessage]", template_messages(messages)),
                tools=json.loads(tools) if tools else None)
        except Exception as err:  # the template is untrusted input (sandboxed Jinja)
            raise HostError("bad_request", f"the chat template failed: {err}") from None
        return formatted.prompt, [s for s in _as_list(formatted.stop) if s]

    def bench(
        self,
        pp_tokens: int,
        tg_tokens: int,
        repetitions: int,
        progress: Callable[[BenchStage, int], None],
    ) -> BenchSamples:
        """llama-bench's tests, run the same way: random prompt tokens decoded in batches of
        n_batch (pp), then tokens decoded one at a time from an empty context (tg); a warm-up
        run first; the KV cache cleared before every repetition; wall time around each run."""
        llm = self.llm
        if llm is None:
            raise HostError("no_model", "no model is loaded")
        if pp_tokens + tg_tokens + 1 > llm.n_ctx():
            raise HostError("context_overflow", f"the test needs {pp_tokens + tg_tokens + 1} "
                            f"tokens of context, the model was loaded with {llm.n_ctx()}")
        rng = random.Random(0)
        n_vocab = llm.n_vocab()
        first = llm.token_bos() if llm._model.add_bos_token() else rng.randrange(n_vocab)

        def run_prompt() -> float:
            tokens = [first] + [rng.randrange(n_vocab) for _ in range(pp_tokens - 1)]
            llm.reset()
            llm._ctx.kv_cache_clear()
            started = time.perf_counter()
            llm.eval(tokens)
            llama_cpp.llama_synchronize(llm.ctx)
            return time.perf_counter() - started

        def run_gen(n: int) -> float:
            llm.reset()
            llm._ctx.kv_cache_clear()
            token = first
            started = time.perf_counter()
            for _ in range(n):
                if self.cancel.is_set():
                    break
                llm.eval([token])
                llama_cpp.llama_synchronize(llm.ctx)
                token = rng.randrange(n_vocab)
            return time.perf_counter() - started

        progress("warmup", 0)
        if pp_tokens:
            run_prompt()
        if tg_tokens:
            run_gen(1)
        pp_rates: list[float] = []
        tg_rates: list[float] = []
        for rep in range(repetitions):
            if self.cancel.is_set():
                break
            if pp_tokens:
                progress("pp", rep + 1)
                pp_rates.append(pp_tokens / run_prompt())
            if tg_tokens and not self.cancel.is_set():
                progress("tg", rep + 1)
                tg_rates.append(tg_tokens / run_gen(tg_tokens))
        llm.reset()
        llm._ctx.kv_cache_clear()
        if self.cancel.is_set():
            return BenchSamples(cancelled=True)
        return BenchSamples(
            cancelled=False,
            pp_samples=tuple(pp_rates),
            tg_samples=tuple(tg_rates),
            system_info=llama_cpp.llama_print_system_info().decode(errors="replace"),
        )

    def stats(self) -> WorkerStats:
        import psutil

        process = psutil.Process()
        return WorkerStats(
            loaded=self.llm is not None,
            model=self.info,
            rss_bytes=process.memory_info().rss,
            n_tokens_cached=self.llm.n_tokens if self.llm is not None else 0,
        )


def _feed_prompt(llm: llama_cpp.Llama, prompt: list[int]) -> None:
    """Decode ``prompt`` after the longest prefix of it the context already holds (its last
    token always again, for fresh logits), as llama-cpp-python's ``generate`` does; a context
    that cannot drop a tail (recurrent models) starts over."""
    n = min(llm.n_tokens, len(prompt))
    differ = np.flatnonzero(llm.input_ids[:n] != np.asarray(prompt[:n]))
    common = min(int(differ[0]) if len(differ) else n, len(prompt) - 1)
    if common > 0 and llm._ctx.kv_cache_seq_rm(-1, common, -1):
        llm.n_tokens = common
    else:
        llm.reset()
    llm.eval(prompt[llm.n_tokens:])


def _warm_up(llm: llama_cpp.Llama) -> None:
    """One throwaway decode, as llama.cpp's own tools do after loading: the first real answer
    then runs at full speed (weights paged in, graph allocated)."""
    tokens = [t for t in (llm.token_bos(), llm.token_eos()) if t >= 0] or [0]
    llm.eval(tokens)
    llama_cpp.llama_synchronize(llm.ctx)  # the counters take queued work in at a sync
    llm.reset()
    llm._ctx.kv_cache_clear()
    llama_cpp.llama_perf_context_reset(llm.ctx)


def _warm_up_token(llm: llama_cpp.Llama) -> int:
    return next((t for t in (llm.token_bos(), llm.token_eos()) if t >= 0), 0)


def _embedding_pooling(model_path: str) -> tuple[int, int | None]:
    """The pooling type to embed with (the GGUF's own, mean when it declares none) and the
    context the model was trained for, from the file's header."""
    from workbench.gguf import GGUFError, read_header

    try:
        header = read_header(model_path)
    except (GGUFError, OSError) as err:
        raise HostError("load_failed", f"cannot read the model's header: {err}") from None
    declared = header.get("{arch}.pooling_type")
    trained = header.get("{arch}.context_length")
    trained = trained if isinstance(trained, int) and trained > 0 else None
    if declared == llama_cpp.LLAMA_POOLING_TYPE_RANK:
        raise HostError("bad_request", "the model is a reranker (pooling type rank): it scores "
                        "pairs of texts and gives no embeddings")
    if declared in POOLING_NAMES:
        return int(declared), trained
    return llama_cpp.LLAMA_POOLING_TYPE_MEAN, trained


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def _token_text(llm: llama_cpp.Llama, token: int) -> str:
    if token < 0:
        return ""
    return llm._model.token_get_text(token)


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _split_stop(held: str, stops: list[str]) -> tuple[str, str, bool]:
    """Hold back text that may be the start of a stop string; returns (held, emit, stop_hit)."""
    if not stops:
        return "", held, False
    for stop in stops:
        index = held.find(stop)
        if index >= 0:
            return "", held[:index], True
    keep = max((len(s) - 1 for s in stops), default=0)
    for size in range(min(keep, len(held)), 0, -1):
        if any(s.startswith(held[-size:]) for s in stops):
            return held[-size:], held[:-size], False
    return "", held, False
