"""What this machine measured (Chat, Compare and Bench answers in a real SQLite database), the
cost of answering on it, and the rented-server presets."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers.measured_answers import (
    MODEL,
    add_bench_run,
    add_chat_answers,
    add_compare_answer,
)
from workbench.costs.measured import estimated_watts, measured_models, measurement_for, model_key
from workbench.costs.own_machine import OwnMachineInputs, own_machine_cost
from workbench.costs.rental import load_rental_presets
from workbench.errors import BadInput
from workbench.store import db


def test_model_key_is_the_file_name() -> None:
    assert model_key("/a/b/m.gguf") == "m.gguf" == model_key("C:\\m\\m.gguf") == model_key("m.gguf")


def test_speed_and_power_of_a_model_from_all_three_sources(tmp_path: Path) -> None:
    connection = db.connect(tmp_path / "w.db")
    assert measurement_for(connection) is None
    add_chat_answers(connection, [30.0, 34.0, 36.0])
    add_compare_answer(connection, 37.0, joules=84.5, total_ms=2300)
    add_compare_answer(connection, 39.0, joules=90.0, total_ms=2500,
                       energy_method="cpu-time-estimate")
    add_bench_run(connection, 40.0)
    time.sleep(0.01)  # the stored timestamps have millisecond resolution
    add_chat_answers(connection, [99.0], model_path="/elsewhere/other.gguf")
    found = measured_models(connection)
    assert [m.key for m in found] == ["other.gguf", "qwen-7b-q4_k_m.gguf"]
    entry = measurement_for(connection, MODEL)
    assert entry.answers == 6 and entry.by_source == {"Chat": 3, "Compare": 2, "Bench": 1}
    assert entry.tokens_per_s == pytest.approx(36.5)  # median of 30, 34, 36, 37, 39, 40
    assert entry.speed_basis() == "median of the latest 6 answers (Chat 3, Compare 2, Bench 1)"
    assert entry.watts == pytest.approx(174.5 / 4.8)
    assert entry.energy_answers == 2 and entry.energy_estimated
    assert entry.power_basis() == ("174.5 J over 4.80 s in 2 Compare answers (estimated from "
                                   "CPU time)")
    assert measurement_for(connection).key == "other.gguf"  # the newest, when none is asked
    assert measurement_for(connection, "unknown.gguf").key == "other.gguf"


def test_estimated_power_says_so() -> None:
    watts, how = estimated_watts(8.0, cores=4)
    assert watts == 32 and how.startswith("estimated: 4 cores x 8 W")


def test_this_machine_costs_energy_plus_its_share_of_the_hardware() -> None:
    # 100 tok/s at 200 W and $0.30/kWh: one hour makes 360k tokens for $0.06 of energy;
    # a $3,600 machine over 10,000 h of answering adds $0.36 an hour.
    inputs = OwnMachineInputs(monthly_tokens=36e6, api_usd_per_1m=5.0, tokens_per_s=100,
                              power_watts=200, electricity_usd_per_kwh=0.30, utilization=0.5,
                              hardware_usd=3600, lifetime_hours=10_000)
    result = own_machine_cost(inputs)
    assert inputs.usd_per_hour == pytest.approx(0.42)
    assert result.energy_monthly_usd == pytest.approx(100 * 0.06)  # 100 hours of answering
    assert result.hardware_monthly_usd == pytest.approx(100 * 0.36)
    assert result.usd_per_1m == pytest.approx(0.42 / 0.36)
    assert result.cheaper == "this machine" and result.within_capacity
    assert result.api_monthly_usd == pytest.approx(180)
    assert "saves $138 a month at 36M tokens" in result.verdict
    slow = own_machine_cost(OwnMachineInputs(2e9, 0.1, 5, 300, 0.5))
    assert slow.cheaper == "api" and not slow.within_capacity
    assert "cheaper at any volume" in slow.verdict
    cheap_but_full = own_machine_cost(OwnMachineInputs(2e9, 5.0, 5, 30, 0.1))
    assert cheap_but_full.cheaper == "this machine" and not cheap_but_full.within_capacity
    assert cheap_but_full.verdict.endswith("makes at most 13M tokens a month at this speed and "
                                           "utilisation, not 2B.")
    with pytest.raises(BadInput):
        OwnMachineInputs(1e6, 1, 10, -1, 0.1)


def test_rental_presets_carry_their_source_and_date() -> None:
    presets = {p.id: p for p in load_rental_presets()}
    small, large = presets["8b-1gpu"], presets["70b-multi-gpu"]
    assert small.usd_per_hour_range == (0.5, 1.0) and small.usd_per_hour == 0.75
    assert large.gpus == (2, 4) and large.usd_per_hour_range == (2.0, 8.0)
    assert large.describe().startswith("70B model on 2-4 GPUs: $1.00-2.00 an hour each (")
    for preset in presets.values():
        assert preset.source and preset.date


def test_a_broken_rental_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "gpu_rental.json"
    bad.write_text('{"presets": [{"name": "x", "source": "s", "date": "d", "gpus": [2, 1], '
                   '"usd_per_gpu_hour": [1, 2]}]}')
    with pytest.raises(BadInput, match="gpus"):
        load_rental_presets(bad)
