"""Loopback stand-ins for what cannot exist here: cloud APIs (OpenAI-compatible and Anthropic
SSE servers on 127.0.0.1) and a throwaway keyring backend."""
