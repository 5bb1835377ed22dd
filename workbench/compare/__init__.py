"""Compare: the same prompt to 2-4 targets at once, stored, with blind voting and ratings.

    CompareSession(targets, messages, params, on_event=...).run() -> [AnswerResult]
    store.save_run(...), store.record_vote(...), store.scoreboard(...)
    ratings.bradley_terry(outcomes) -> {name: rating}
"""
