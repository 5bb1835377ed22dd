"""The router: which target answers a request, the local model or a cloud one (docs/serve.md).

- ``sensitive``: a detector of sensitive data in text (e-mail addresses, phone numbers, payment
  cards, IBANs, US social security numbers, IP addresses, API keys and secrets, the user's own
  keywords and regular expressions); findings are masked, never the text itself;
- ``policy`` and ``router``: the rules and their order (sensitive data stays local, failing
  closed; then length, keyword, regex, tag and eval-run rules; then the default);
- ``hybrid``: the hybrid rule an eval run's decision produces, applied to a request's tags;
- ``config``: named router configurations (``routers/NAME.yaml`` in the data directory);
- ``log``: route decisions in SQLite and their statistics (the share kept local, the saving);
- ``target`` and ``targets``: a router as an answer target (``router:NAME``) for compare and
  evals, and ``build_any_target`` that builds it or any other target.

Nothing here is imported by ``workbench.routing`` itself: import the module you need.
"""
