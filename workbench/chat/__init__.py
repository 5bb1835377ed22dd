"""Chat, Qt-free: the conversation as a session (messages, the answer being written, the store
kept in step) that the Chat page renders and the CLI and the server can hold too."""
