"""The `encoder-triton` help: grouped into panels, docstrings with examples, defaults from their owners."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from encoder_triton.bench import tune_command
from encoder_triton.cli import app, export, query, serve
from encoder_triton.export.precision.build import BuildOptions
from encoder_triton.export.precision.int8 import Int8Options
from encoder_triton.export.repository import ServingOptions
from encoder_triton.gateway.settings import GatewaySettings
from encoder_triton.server.embedded import EmbeddedTriton

# Typer vendors its own click: reach the commands through the group it builds.
COMMANDS: dict[str, Any] = dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]

#: Each command's panels, in the order its help shows them.
PANELS = {
    "export": export.PANELS,
    "serve": serve.SERVE_PANELS,
    "gateway": serve.GATEWAY_PANELS,
    "embed": query.PANELS,
    "classify": query.PANELS,
    "rerank": query.PANELS,
    "tune": tune_command.PANELS,
}


def _options(command: Any) -> list[Any]:
    return [p for p in command.params if p.param_type_name == "option" and p.name != "help"]


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_the_app_has_the_commands_it_documents() -> None:
    assert set(COMMANDS) == set(PANELS)


@pytest.mark.parametrize("name", sorted(PANELS))
def test_every_option_sits_in_a_panel_and_the_panels_show_in_order(name: str) -> None:
    options = _options(COMMANDS[name])
    outside = [o.opts[0] for o in options if getattr(o, "rich_help_panel", None) is None]
    assert not outside, f"`{name}` options outside any help panel: {outside}"
    used = list(dict.fromkeys(o.rich_help_panel for o in options))  # type: ignore[attr-defined]
    assert set(used) == set(PANELS[name])
    output = _help(name)
    titles = [output.index(f"─ {panel} ─") for panel in PANELS[name]]
    assert titles == sorted(titles), f"`{name}` panels out of order"


@pytest.mark.parametrize("name", sorted(PANELS))
def test_the_help_is_the_docstring_and_has_an_example(name: str) -> None:
    command = COMMANDS[name]
    assert command.callback is not None and command.callback.__doc__
    first_line = command.callback.__doc__.strip().splitlines()[0]
    output = " ".join(_help(name).split())
    assert first_line in output
    assert f"Example: encoder-triton {name} " in output


def test_the_top_level_help_groups_the_commands() -> None:
    output = _help()
    panels = [output.index(f"─ {panel} ─") for panel in ("Export", "Serve", "Query", "Tune")]
    assert panels == sorted(panels)


def _default(command: str, option: str) -> Any:
    param = next(p for p in COMMANDS[command].params if p.name == option)
    return param.default


@pytest.mark.parametrize(
    ("option", "owner"),
    [
        ("max_batch_size", ServingOptions().max_batch_size),
        ("instances", ServingOptions().instances),
        ("tokenizer_instances", ServingOptions().tokenizer_instances),
        ("max_queue_delay_us", ServingOptions().max_queue_delay_us),
        ("max_batch_tokens", ServingOptions().max_batch_tokens),
        ("batching", ServingOptions().batching),
        ("max_queue_size", ServingOptions().max_queue_size),
        ("queue_timeout_us", ServingOptions().queue_timeout_us),
        ("cache", ServingOptions().response_cache),
        ("warmup", ServingOptions().warmup),
        ("max_chars", ServingOptions().max_chars),
        ("long_inputs", ServingOptions().long_inputs),
        ("chunk_overlap", ServingOptions().chunk_overlap),
        ("precision", BuildOptions().precision),
        ("artifact_format", BuildOptions().format),
        ("optimize", BuildOptions().optimize),
        ("backend", BuildOptions().backend),
        ("device", BuildOptions().device),
        ("gpu_providers", ",".join(BuildOptions().gpu_providers)),
        ("accept_degraded", BuildOptions().accept_degraded),
        ("int8_calibration", Int8Options().mode),
        ("int8_headroom", Int8Options().headroom),
        ("int8_search", Int8Options().search),
        ("int8_outliers", Int8Options().outlier_split),
    ],
)
def test_export_defaults_are_the_options_dataclasses_defaults(option: str, owner: Any) -> None:
    # Typer hands click the enum's value; an export without the flag builds these dataclasses.
    assert _default("export", option) == getattr(owner, "value", owner)


def test_serve_and_gateway_defaults_are_their_owners_defaults() -> None:
    import inspect

    server = inspect.signature(EmbeddedTriton).parameters
    assert _default("serve", "startup_timeout") == server["startup_timeout_s"].default
    assert _default("serve", "cache_size") == server["cache_size_bytes"].default
    assert _default("serve", "rate_limit") == server["rate_limit"].default
    assert _default("gateway", "triton") == list(GatewaySettings().upstreams)  # repeatable: a list
    assert _default("gateway", "protocol") == GatewaySettings().protocol
