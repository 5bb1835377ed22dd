"""Is parallel decoding worth it here? N sequences decoded in one batch per step against one.

llama.cpp's low-level API directly (as its examples/batched does): one context with
``n_seq_max`` sequences and a unified KV cache; each step decodes one token of every live
sequence in one ``llama_decode``; each sequence has its own sampler chain (greedy here). The
prompt is evaluated once per sequence (not timed: generation only). Prints each round's
aggregate generation tok/s for 1 and N sequences and the median of the paired ratios.

    python tests/benchmarks/bench_batched_decode.py [--parallel 4] [--tokens 128] [--rounds 3]
        [--threads 2] [--model PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import llama_cpp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers.real_models import SMOLLM2, fetch

PROMPT = ("<|im_start|>user\nWrite a long story about a lighthouse keeper and a storm."
          "<|im_end|>\n<|im_start|>assistant\n")


def decode_round(ctx: object, prompt: list[int], n_seq: int, n_tokens: int) -> float:
    """Generate ``n_tokens`` per sequence for ``n_seq`` sequences; aggregate tok/s."""
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
    batch = llama_cpp.llama_batch_init(max(len(prompt), n_seq), 0, n_seq)
    samplers = []
    for _ in range(n_seq):
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        samplers.append(chain)
    try:
        # the prompt, once per sequence (its own KV cells: simple and fair to both sides)
        next_tokens: list[int] = []
        for seq in range(n_seq):
            batch.n_tokens = len(prompt)
            for i, token in enumerate(prompt):
                batch.token[i] = token
                batch.pos[i] = i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = i == len(prompt) - 1
            if llama_cpp.llama_decode(ctx, batch) != 0:
                raise RuntimeError("prompt decode failed")
            # sample the first token now: the next decode overwrites these logits
            next_tokens.append(llama_cpp.llama_sampler_sample(samplers[seq], ctx, -1))
        llama_cpp.llama_synchronize(ctx)
        started = time.perf_counter()
        generated = 0
        pos = len(prompt)
        for _step in range(n_tokens):
            batch.n_tokens = n_seq
            for seq in range(n_seq):
                batch.token[seq] = next_tokens[seq]
                batch.pos[seq] = pos
                batch.n_seq_id[seq] = 1
                batch.seq_id[seq][0] = seq
                batch.logits[seq] = True
            if llama_cpp.llama_decode(ctx, batch) != 0:
                raise RuntimeError("decode failed")
            pos += 1
            for seq in range(n_seq):
                next_tokens[seq] = llama_cpp.llama_sampler_sample(samplers[seq], ctx, seq)
            generated += n_seq
        llama_cpp.llama_synchronize(ctx)
        return generated / (time.perf_counter() - started)
    finally:
        for chain in samplers:
            llama_cpp.llama_sampler_free(chain)
        llama_cpp.llama_batch_free(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", help="a GGUF (default: the real SmolLM2-135M Q4_1)")
    args = parser.parse_args()
    llama_cpp.llama_backend_init()
    mparams = llama_cpp.llama_model_default_params()
    mparams.use_extra_bufts = False  # weight repacking: unsafe on this CPU (the probe says)
    path = args.model or str(fetch(SMOLLM2))
    model = llama_cpp.llama_model_load_from_file(path.encode(), mparams)
    vocab = llama_cpp.llama_model_get_vocab(model)
    text = PROMPT.encode()
    buf = (llama_cpp.llama_token * 512)()
    n = llama_cpp.llama_tokenize(vocab, text, len(text), buf, 512, True, True)
    prompt = list(buf[:n])
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx = args.parallel * (len(prompt) + args.tokens + 8)
    cparams.n_batch = 512
    cparams.n_seq_max = args.parallel
    cparams.kv_unified = True
    cparams.n_threads = cparams.n_threads_batch = args.threads
    cparams.no_perf = True
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    decode_round(ctx, prompt, 1, 8)  # warm-up
    ratios, ones, manys = [], [], []
    for r in range(args.rounds):
        order = (1, args.parallel) if r % 2 == 0 else (args.parallel, 1)
        rates = {k: decode_round(ctx, prompt, k, args.tokens) for k in order}
        ones.append(rates[1])
        manys.append(rates[args.parallel])
        ratios.append(rates[args.parallel] / rates[1])
        print(f"round {r + 1}: 1 seq {rates[1]:.1f} tok/s, {args.parallel} seqs "
              f"{rates[args.parallel]:.1f} tok/s aggregate, ratio {ratios[-1]:.2f}", flush=True)
    print(f"median: 1 seq {statistics.median(ones):.1f} tok/s, {args.parallel} seqs "
          f"{statistics.median(manys):.1f} tok/s, ratio {statistics.median(ratios):.2f} "
          f"(range {min(ratios):.2f}-{max(ratios):.2f})")
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)


if __name__ == "__main__":
    main()
