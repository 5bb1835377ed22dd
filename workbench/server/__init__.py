"""``workbench serve``: local models behind the OpenAI and Anthropic HTTP APIs (docs/serve.md).

A Starlette app run by uvicorn. Every model runs in its own crash-proof worker process
(``LocalEngine``), driven by one thread per model that takes that model's requests in turn
(``models.ModelPool``); the event loop only parses, checks and streams.

- ``config``: the server's options and their checks (a non-loopback address needs a key);
- ``catalog``: which models are served and the ids that name them;
- ``models``: the model pool: loading on first use, the memory check, queues, idle unload;
- ``generation``: one answer, from the model's thread to the event loop;
- ``validation``: checking a request body's fields (types, ranges, unknown names);
- ``openai_api``, ``anthropic_api``: the two APIs' requests and answers;
- ``sse``: server-sent events; ``errors``: the APIs' error objects;
- ``app``: the Starlette app (authentication, body limit, CORS, routes);
- ``runner``: running it (in the foreground for the command, in a thread for tests and the GUI).
"""
