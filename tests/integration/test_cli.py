"""The `surge` command line: help, version, configuration precedence and errors, the generated
configuration docs, the sample city, and `surge price` computing offline what the server would."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from conftest import REPO, run_surge

SUBCOMMANDS = ("serve", "price", "config", "version", "help")


def test_help_lists_every_subcommand_and_each_has_its_own_help():
    top = run_surge("--help")
    assert top.returncode == 0
    for cmd in SUBCOMMANDS:
        assert f"\n  {cmd} " in top.stdout, cmd
    for cmd in ("serve", "price", "config"):
        sub = run_surge(cmd, "--help")
        assert sub.returncode == 0
        assert sub.stdout.startswith(f"Usage: surge {cmd}"), sub.stdout


def test_no_arguments_and_unknown_command_exit_2_with_usage():
    none = run_surge()
    assert none.returncode == 2
    assert "Usage: surge <command>" in none.stderr
    bad = run_surge("frobnicate")
    assert bad.returncode == 2
    assert "unknown command 'frobnicate'" in bad.stderr


def test_version_names_surge_and_its_libraries():
    out = run_surge("version")
    assert out.returncode == 0
    first, second = out.stdout.splitlines()[:2]
    assert first == "surge 0.1.0"
    assert "sqlite 3." in second and "libmicrohttpd" in second and "jansson" in second


def test_configuration_docs_are_the_generated_table():
    generated = run_surge("config", "docs")
    assert generated.returncode == 0
    on_disk = (REPO / "docs" / "configuration.md").read_text()
    assert on_disk == generated.stdout, (
        "docs/configuration.md is out of date: run `build/surge config docs > "
        "docs/configuration.md`")


def test_config_precedence_file_then_env_then_flags(tmp_path: Path):
    conf = tmp_path / "surge.conf"
    conf.write_text("# a comment\n\nhttp.threads = 3\ncache.l1_ttl_s = 10\nlog.level = \"warn\"\n")
    out = run_surge("config", "show", "--config", str(conf), "--set", "cache.l1_ttl_s=11",
                    env={"SURGE_HTTP_THREADS": "5", "SURGE_CACHE_L1_TTL_S": "12"})
    assert out.returncode == 0, out.stderr
    shown = dict(line.split(" = ", 1) for line in out.stdout.splitlines())
    assert shown["http.threads"] == "5"      # env beats the file
    assert shown["cache.l1_ttl_s"] == "11"   # the flag beats env and file
    assert shown["log.level"] == "warn"      # from the file, quotes removed
    assert shown["listen"] == "0.0.0.0:8080"  # default


def test_config_show_masks_the_admin_token():
    out = run_surge("config", "show", "--set", "admin.token=supersecret")
    assert out.returncode == 0
    assert "admin.token = ********" in out.stdout
    assert "supersecret" not in out.stdout


def test_bad_configuration_stops_with_key_value_and_rule(tmp_path: Path):
    out = run_surge("config", "check", "--set", "http.threads=999")
    assert out.returncode == 2
    assert out.stderr.strip() == "surge: --set: http.threads = 999: must be between 0 and 256"

    out = run_surge("config", "check", "--set", "cache.l1_ttl_s=soon")
    assert out.returncode == 2
    assert out.stderr.strip() == "surge: --set: cache.l1_ttl_s = 'soon': must be an integer"

    conf = tmp_path / "bad.conf"
    conf.write_text("listen = 127.0.0.1:9\nhttp.thraeds = 2\n")
    out = run_surge("config", "check", "--config", str(conf))
    assert out.returncode == 2
    assert f"{conf}:2: unknown configuration key 'http.thraeds'" in out.stderr

    out = run_surge("config", "check", env={"SURGE_NOT_A_KEY": "1"})
    assert out.returncode == 2
    assert "SURGE_NOT_A_KEY does not name a configuration key" in out.stderr

    ok = run_surge("config", "check", "--set", "http.threads=4")
    assert ok.returncode == 0 and ok.stdout.strip() == "configuration OK"


def test_serve_refuses_a_bad_listen_address_before_touching_anything(tmp_path: Path):
    data = tmp_path / "data"
    out = run_surge("serve", "--listen", "nowhere", "--data-dir", str(data))
    assert out.returncode == 2
    assert "listen = 'nowhere': must be HOST:PORT" in out.stderr
    assert not data.exists()


def test_price_on_a_fresh_data_dir_prices_the_sample_city(tmp_path: Path):
    data = tmp_path / "data"
    out = run_surge("price", "--region", "dr5ru", "--product", "premium", "--json",
                    "--at", "2026-01-12T15:00:00Z", "--data-dir", str(data))
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    # 15:00 UTC is 10:00 in New York: an off-peak hour, every input neutral
    assert (d["price"], d["base_price"], d["surge_multiplier"]) == (20, 20, 1)
    assert d["fallback"] == ["forecast", "supply", "weather", "events"]
    assert (data / "surge.db").exists()


def test_price_with_features_matches_the_formula(tmp_path: Path):
    data = tmp_path / "data"
    # 22:00 UTC = 17:00 in New York (EST): a peak hour, time_of_day = 0.2 * 0.2 = 0.04
    out = run_surge("price", "--lat", "40.7580", "--lon", "-73.9855", "--product", "standard",
                    "--at", "2026-01-12T22:00:00Z", "--feature", "expected_demand=30",
                    "--feature", "available_drivers=10", "--feature", "weather_severity=0.5",
                    "--json", "--data-dir", str(data))
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout, parse_float=Decimal)
    # supply: 2/(1+10/30)-1 = 0.5 -> 0.3*0.5 = 0.15; weather 0.1*0.5 = 0.05; time 0.04
    f = d["factors"]
    assert f["supply"] == Decimal("0.15")
    assert f["weather"] == Decimal("0.05")
    assert f["time_of_day"] == Decimal("0.04")
    assert f["demand"] == 0 and f["events"] == 0 and f["clip"] == 0 and f["guardrails"] == 0
    assert d["surge_multiplier"] == Decimal("1.24")
    assert d["region_id"] == "dr5ru"
    # 12.00 * 1.24 = 14.88, past the half-way point 14.875 -> 15.00
    assert d["price"] == Decimal("15")
    assert d["fallback"] == ["forecast", "events"]


def test_price_text_output_shows_the_breakdown_and_its_sum(tmp_path: Path):
    out = run_surge("price", "--region", "dr5ru", "--product", "standard",
                    "--at", "2026-01-12T15:00:00Z", "--feature", "weather_severity=1",
                    "--data-dir", str(tmp_path / "d"))
    assert out.returncode == 0, out.stderr
    assert "price 13.25 = base 12.00 x surge 1.1000 (rounded to 0.25)" in out.stdout
    assert "total" in out.stdout and "+0.1000  (= surge - 1)" in out.stdout


def test_price_errors_name_what_is_wrong(tmp_path: Path):
    data = str(tmp_path / "d")
    out = run_surge("price", "--region", "dr5ru", "--data-dir", data)
    assert out.returncode == 2 and "price needs --product" in out.stderr
    out = run_surge("price", "--region", "zzzzz", "--product", "standard", "--data-dir", data)
    assert out.returncode == 1
    assert "region 'zzzzz' is not configured" in out.stderr
    out = run_surge("price", "--region", "dr5ru", "--product", "boat", "--data-dir", data)
    assert out.returncode == 2
    assert "region 'dr5ru' does not sell product 'boat' (it sells: standard, premium)" in out.stderr
    out = run_surge("price", "--region", "dr5ru", "--product", "standard", "--at", "noon",
                    "--data-dir", data)
    assert out.returncode == 2 and "--at 'noon' is not an RFC 3339 time" in out.stderr


def test_no_sample_starts_empty(tmp_path: Path):
    out = run_surge("price", "--region", "dr5ru", "--product", "standard", "--no-sample",
                    "--data-dir", str(tmp_path / "d"))
    assert out.returncode == 1
    assert "region 'dr5ru' is not configured" in out.stderr
