"""`foreman eval`: run the scripted-conversation datasets against a model and total the results."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from assistant.cli.options import echo_json


@click.command("eval")
@click.option(
    "--model",
    metavar="MODEL",
    help="A pydantic-ai model string, or 'offline' for the built-in scripted policy. "
    "Default: $FOREMAN_MODEL, else anthropic:claude-sonnet-4-5 when ANTHROPIC_API_KEY is set, "
    "else the offline policy.",
)
@click.option(
    "--dataset",
    type=click.Path(exists=True, path_type=Path),
    help="A dataset YAML file or a folder of them (default: the repository's evals/).",
)
@click.option("-k", "pattern", metavar="TEXT", help="Only cases whose name contains TEXT.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead.")
@click.option("--concurrency", default=4, show_default=True, help="Cases run at once.")
@click.option(
    "--judge/--no-judge",
    default=False,
    help="Also grade reply quality with LLMJudge (real models only; costs tokens).",
)
def eval_command(
    model: str | None,
    dataset: Path | None,
    pattern: str | None,
    as_json: bool,
    concurrency: int,
    judge: bool,
) -> None:
    """Play every eval case against a model and report what held.

    Each case is a scripted conversation in a fresh demo workspace: user turns, button presses,
    edits made outside the chat. Afterwards the disk and the state store are checked: tools
    called, approvals requested, the project list and builders on disk, what the replies said,
    and that nothing changed without the principal's approval. Exit 1 when a case fails or any
    mutation was unapproved.

    \b
    Examples:
      foreman eval                          # offline policy unless a model key is set
      foreman eval --model anthropic:claude-sonnet-4-5 --judge
      foreman eval --dataset evals/flows.yaml -k wrap_up --json
    """
    from assistant.agent import OFFLINE_MODEL_NAME
    from assistant.evals import (
        EvalSetupError,
        choose_model,
        default_dataset_path,
        load_datasets,
        run_evals,
    )

    try:
        datasets = load_datasets(dataset or default_dataset_path())
        chosen, label = choose_model(model)
    except EvalSetupError as error:
        raise click.ClickException(str(error)) from None
    if pattern:
        for ds in datasets:
            ds.cases = [c for c in ds.cases if c.name and pattern in c.name]
        datasets = [ds for ds in datasets if ds.cases]
        if not datasets:
            raise click.ClickException(f"no case name contains {pattern!r}")
    real_model = chosen.model_name != OFFLINE_MODEL_NAME
    run = _with_progress(
        sum(len(ds.cases) for ds in datasets),
        lambda on_case: run_evals(
            datasets,
            chosen,
            label=label,
            max_concurrency=concurrency,
            judge=chosen if judge and real_model else None,
            on_case=on_case,
        ),
    )
    if as_json:
        document = {
            "totals": run.totals(),
            "cases": [case.__dict__ for case in run.cases],
        }
        echo_json(document)
    else:
        _print(run)
    sys.exit(0 if run.ok else 1)


def _with_progress(total: int, start: Callable[[Callable[[str, str, float], None]], Any]) -> Any:
    """Run the evals with a line per finished case and a bar on stderr (stdout is the result)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("cases"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("cases", total=total)

        def on_case(dataset: str, case: str, seconds: float) -> None:
            progress.console.print(f"  played {dataset}/{case} ({seconds:.1f} s)", highlight=False)
            progress.advance(task)

        return asyncio.run(start(on_case))


def _print(run: object) -> None:
    """One compact table per run that reads at 80 columns: case names are never cut."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from assistant.evals import EvalRun

    assert isinstance(run, EvalRun)
    console = Console(highlight=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    # numbers are never cut; a name too long for the terminal folds onto a second line
    table.add_column("case", overflow="fold")
    table.add_column("ok", no_wrap=True)
    for column in ("req.", "tokens in/out", "unappr."):
        table.add_column(column, justify="right", no_wrap=True)
    dataset = None
    for case in run.cases:
        if case.dataset != dataset:
            if dataset is not None:
                table.add_section()
            dataset = case.dataset
            table.add_row(Text(dataset, style="bold"), "", "", "", "")
        table.add_row(
            Text(f"  {case.name}"),  # names are data, never markup
            "yes" if case.passed else Text("NO", style="red"),
            str(case.requests),
            f"{case.input_tokens}/{case.output_tokens}",
            str(case.unapproved) if case.unapproved else "-",
        )
    console.print(table)
    for case in run.cases:
        for failure in case.failures:
            console.print(
                f"[red]FAILED[/red] {case.dataset}/{case.name}: {failure}", soft_wrap=True
            )
    totals = run.totals()
    console.print(f"model: {totals['model']}")
    console.print(f"cases passed: {totals['cases_passed']}/{totals['cases']}")
    console.print(f"unapproved mutations: {totals['unapproved_mutations']}")
    console.print(
        f"per case: {totals['requests_per_case']} requests, "
        f"{totals['input_tokens_per_case']} input tokens, "
        f"{totals['output_tokens_per_case']} output tokens"
    )
