"""Costs: the dated pricing table, per-answer cost, local energy, and the break-even calculator.

    load_pricing(path=None, overrides=None) -> PricingTable      (.lookup(provider, model))
    price_answer(result, table, settings) -> AnswerResult        (fills cost fields)
    local_energy_meter(pid=..., uses_gpu=...) -> meter           (.start(); .stop() -> reading)
    break_even(BreakEvenInputs(...)) -> BreakEvenResult
"""
