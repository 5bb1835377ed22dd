"""A small original text the synthetic BPE tokenizer is trained on (written for Workbench).

It only has to make common English words, numbers, punctuation and code fragments come out as
few tokens, so that token counts of synthetic models look like a real tokenizer's.
"""

from __future__ import annotations

CORPUS = """\
The workbench answers a simple question: which open model can this machine run, how fast, and
how do its answers compare with a model that runs in the cloud? It measures everything on your
own hardware, with your own prompts, and it never sends a byte off the machine unless you ask.

When you open the app, the first page shows your hardware: the processor, the memory, and every
graphics card with its free video memory. The next page helps you discover models. For each one
you see whether it fits fully on the GPU, partly on the GPU and partly on the CPU, only on the
CPU, or not at all. A bar shows how the memory would be spent: the weights, the cache for the
context, the buffers for computing, and what is left free.

You can download a model, then chat with it. While it writes, the status bar shows the time to
the first token, the number of tokens per second, and the memory in use. You can stop it at any
time. If the model process crashes, the window stays open and tells you what happened, so you
can try again in a safer mode.

The compare page sends the same prompt to two or three models side by side. You can hide their
names and vote for the better answer; the score is saved, so after a week you know which model
you prefer for your own work. The costs page turns tokens into money: the price per million
tokens of an API, the energy your computer uses, and the point where running a model at home
becomes cheaper than paying for every request.

People use these tools to write, to read, to learn, and to build things. They ask for a summary
of a long report, a first draft of a letter, a recipe for dinner, a plan for a trip, or help with
a bug in their code. Some of them work with text in other languages; some of them work offline on
a train or in a small office far from a fast network. All of them want an answer that is good,
fast, and private.

Here is a short story. On a cold morning in early spring, a young woman walked to the old
library at the end of the street. She was looking for a book about the history of the river and
the people who had lived along it for more than a thousand years. The library was quiet. A man
at the desk smiled and said that the book she wanted was on the second floor, next to the large
window. She found it, sat down, and began to read. Hours later, when the light changed and the
room grew dark, she was still reading, and she had written ten pages of notes.

Numbers matter too: 1, 2, 3, 10, 42, 100, 256, 512, 1024, 2048, 4096, 8192, 2024, 2025, 3.14,
0.5, 99%, $20, 7:30, 12/31, 1,000,000. Dates such as 26 Jul 2024 and times such as 10:45 appear
in many prompts, and so do lists:
- first item
- second item
- third item

def count_tokens(text: str) -> int:
    \"\"\"Return the number of tokens in the text.\"\"\"
    tokens = tokenizer.encode(text)
    return len(tokens)

for i in range(10):
    if i % 2 == 0:
        print(f"even: {i}")
    else:
        print("odd", i)

class Model:
    def __init__(self, path, context=4096):
        self.path = path
        self.context = context

    def generate(self, prompt, max_tokens=128, temperature=0.7):
        return self.backend.complete(prompt, max_tokens=max_tokens, temperature=temperature)

{"role": "user", "content": "Hello! What is the capital of France?"}
{"role": "assistant", "content": "The capital of France is Paris."}

Questions and answers: What time is it? Where are you going? Why does it work? How much does
it cost? Who wrote this? I don't know, but I'll find out. We're here, they're there, it's fine,
you've seen it, she'd said so, he'll come back.
"""
