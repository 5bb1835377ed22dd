"""Break-even: the brief's formulas, the unreachable case, several servers, measured throughput
from the database, and `workbench breakeven --json`."""

from __future__ import annotations

import json

import pytest

from workbench.cli import main
from workbench.costs.breakeven import (
    BreakEvenInputs,
    break_even,
    parse_amount,
)
from workbench.costs.measured import measurement_for
from workbench.errors import BadInput
from workbench.store import db


@pytest.mark.parametrize("text, value", [("50M", 5e7), ("2.5k", 2500), ("1e9", 1e9),
                                         ("1,000,000", 1e6), ("3B", 3e9), (7, 7.0)])
def test_parse_amount(text, value) -> None:
    assert parse_amount(text) == value


def test_parse_amount_refuses_junk() -> None:
    with pytest.raises(BadInput):
        parse_amount("lots")


def test_the_briefs_formulas() -> None:
    # 100M tokens at $10/1M = $1000; a $1/h server = $720/month; 100 tok/s at 50% busy
    result = break_even(BreakEvenInputs(monthly_tokens=100e6, api_usd_per_1m=10,
                                        hosting_usd_per_hour=1.0, tokens_per_s=100,
                                        utilization=0.5))
    assert result.api_monthly_usd == pytest.approx(1000)
    assert result.server_monthly_usd == pytest.approx(720)
    assert result.capacity_tokens_per_month == pytest.approx(100 * 720 * 3600 * 0.5)
    assert result.servers_needed == 1
    assert result.break_even_tokens_per_month == pytest.approx(72e6)
    assert result.break_even_reachable and result.cheaper == "self-host"
    assert result.monthly_savings_usd == pytest.approx(280)
    assert result.self_host_usd_per_1m_at_capacity == pytest.approx(720 / 129.6)
    assert "from 72M tokens a month" in result.verdict and "$1,000" in result.verdict


def test_below_break_even_the_api_wins() -> None:
    result = break_even(BreakEvenInputs(10e6, 10, 1.0, 100, 0.5))
    assert result.cheaper == "api" and result.monthly_savings_usd == pytest.approx(620)


def test_a_slow_server_never_wins() -> None:
    # 2 tok/s at 10%: 518k tokens a month for $720 -> $1389 per 1M, far above $10
    result = break_even(BreakEvenInputs(1e9, 10, 1.0, 2, 0.1))
    assert not result.break_even_reachable and result.cheaper == "api"
    assert result.servers_needed == 1930
    assert "at any volume" in result.verdict


def test_power_draw_adds_to_the_hourly_cost() -> None:
    inputs = BreakEvenInputs(1e6, 1, 0.5, 50, power_watts=500, electricity_usd_per_kwh=0.2)
    assert inputs.cost_per_hour == pytest.approx(0.6)
    assert break_even(inputs).server_monthly_usd == pytest.approx(432)


@pytest.mark.parametrize("changes", [{"utilization": 0}, {"utilization": 1.5},
                                     {"tokens_per_s": 0}, {"api_usd_per_1m": 0},
                                     {"monthly_tokens": -1}])
def test_bad_inputs(changes) -> None:
    values = dict(monthly_tokens=1e6, api_usd_per_1m=1, hosting_usd_per_hour=1, tokens_per_s=1)
    values.update(changes)
    with pytest.raises(BadInput):
        BreakEvenInputs(**values)


def test_measured_throughput_comes_from_a_bench_run(home) -> None:
    with db.connect() as connection:
        assert measurement_for(connection) is None
        connection.execute(
            "INSERT INTO bench_runs (created_at, model_path, model_name, pp_tokens, tg_tokens, "
            "repetitions, tg_tokens_per_s, settings, machine) VALUES "
            "('2026-01-01T00:00:00Z', '/m.gguf', 'tiny', 512, 128, 5, 24.5, '{}', '{}')")
        connection.commit()
        measured = measurement_for(connection)
    assert measured.tokens_per_s == 24.5 and measured.key == "m.gguf"
    assert measured.speed_basis() == "one measured answer (Bench 1)"


def test_breakeven_cli_json_seeded_with_the_measurement(home, capsys) -> None:
    with db.connect() as connection:
        connection.execute(
            "INSERT INTO bench_runs (model_path, pp_tokens, tg_tokens, repetitions, "
            "tg_tokens_per_s, settings, machine) VALUES ('/m.gguf', 512, 128, 5, 40, '{}', "
            "'{}')")
        connection.commit()
    code = main(["breakeven", "--monthly-tokens", "200M", "--api-model", "openai:gpt-4o-mini",
                 "--hosting-per-hour", "0.05", "--utilization", "0.5", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["inputs"]["tokens_per_s"] == 40 and "(Bench 1)" in doc["throughput_source"]
    assert doc["inputs"]["api_usd_per_1m"] == 0.6  # gpt-4o-mini's output price
    assert doc["api_monthly_usd"] == pytest.approx(120)
    assert doc["hosting_monthly_usd"] == pytest.approx(36 * 4)  # 200M needs 4 servers
    assert doc["servers_needed"] == 4 and doc["cheaper"] == "api"
    assert doc["notes"] and "batching" in doc["notes"][0]


def test_breakeven_cli_without_a_measurement_asks_for_one(home, capsys) -> None:
    assert main(["breakeven", "--monthly-tokens", "1M", "--api-price", "5",
                 "--hosting-per-hour", "1"]) == 2
    assert "--tokens-per-s" in capsys.readouterr().err
    assert main(["breakeven", "--monthly-tokens", "1M", "--api-model", "openai:nope",
                 "--hosting-per-hour", "1", "--tokens-per-s", "10"]) == 2
    assert "no price for openai/nope" in capsys.readouterr().err
    assert main(["breakeven", "--monthly-tokens", "1M", "--api-price", "5",
                 "--hosting-per-hour", "1", "--tokens-per-s", "10"]) == 0
    assert "Break-even" in capsys.readouterr().out


SOURCES_EXAMPLE = ["breakeven", "--monthly-tokens", "100M", "--api-price", "5",
                   "--hosting-per-hour", "4", "--tokens-per-s", "100", "--utilization", "0.7"]


def test_the_sources_example_api_wins(home, capsys) -> None:
    """100M tokens a month at $5 per 1M against $4 an hour at 100 tok/s, 70% busy: the API
    costs $500 a month, hosting $2,880, and the API wins."""
    assert main([*SOURCES_EXAMPLE, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["api_monthly_usd"] == pytest.approx(500)
    assert doc["hosting_monthly_usd"] == pytest.approx(2880)
    assert doc["servers_needed"] == 1 and doc["cheaper"] == "api"
    assert main(SOURCES_EXAMPLE) == 0
    out = capsys.readouterr().out
    assert "API:          $500 a month" in out
    assert "Self-hosted:  $2,880 a month" in out
    assert "The API is cheaper at any volume" in out and "$15.87 per 1M tokens" in out
    assert "e+" not in out and "e-0" not in out
