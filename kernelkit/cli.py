"""The ``kernelkit`` command: batch jobs over capture files."""

from __future__ import annotations

import warnings

import click

from .io.formats import TraceFormatError, TraceWarning


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kernelkit")
def main():
    """kernelkit: packet traces into Arrow and Polars, with Numba kernels."""
    warnings.showwarning = _show_warning
    warnings.simplefilter("always", TraceWarning)


def _run(job):
    try:
        return job()
    except (TraceFormatError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.argument("traces", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--progress/--no-progress", default=True, help="Show a progress bar on long files.")
def info(traces, progress):
    """Summarise TRACES: packets, bytes, duration, link types, protocols, anomalies."""
    from .summary import summarize

    click.echo(str(_run(lambda: summarize(list(traces), progress=progress))))


@main.command()
@click.argument("traces", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Parquet file to write.")
@click.option("--data/--no-data", default=False, help="Include the packet bytes as a `data` column.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar on long files.")
def convert(traces, output, data, progress):
    """Write the packet table of TRACES to a Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .io.trace import open_trace
    from .schema import packet_schema

    def job():
        trace = open_trace(list(traces))
        rows = 0
        # Parquet has no binary-view type: store the bytes as plain binary.
        schema = packet_schema(data)
        if data:
            schema = schema.set(schema.get_field_index("data"), schema.field("data").with_type(pa.large_binary()))
        with pq.ParquetWriter(output, schema) as writer:
            for batch in trace.batches(1 << 18, data=data, progress=progress):
                if data:
                    batch = batch.cast(schema)
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows

    rows = _run(job)
    click.echo(f"wrote {rows:,} packets to {output}")


@main.command("flows")
@click.argument("traces", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Parquet file to write.")
@click.option("--table", default="linear", show_default=True, help="Hash-table design.")
@click.option("--expiry", default="wheel", show_default=True, help="Expiry strategy: scan, wheel or lazy.")
@click.option("--capacity", default=1 << 20, show_default=True, help="Flows held at once.")
@click.option("--idle-timeout", type=float, default=None, help="Seconds (TCP established, UDP, other).")
@click.option("--active-timeout", type=float, default=None, help="Seconds after which long flows are cut.")
@click.option("--shards", default=1, show_default=True, help="Tables fed by symmetric RSS, one thread each.")
def flows_command(traces, output, table, expiry, capacity, idle_timeout, active_timeout, shards):
    """Write the flow table of TRACES (Zeek conn.log columns) to a Parquet file."""
    from .conntrack import flows

    def job():
        table_ = flows(list(traces), table=table, expiry=expiry, capacity=capacity, idle_timeout=idle_timeout,
                       active_timeout=active_timeout, shards=shards)
        table_.write_parquet(output)
        return table_.height

    try:
        rows = _run(job)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {rows:,} flows to {output}")


@main.command()
@click.option("--port", default=8888, show_default=True, help="Port of the JupyterLab server.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
def lab(port, no_browser):
    """Open JupyterLab on kernelkit's lecture notebooks (start with 01_quickstart)."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    if shutil.which("jupyter") is None:
        raise click.ClickException("JupyterLab is not installed: pip install 'kernelkit[lab]'")
    args = [sys.executable, "-m", "jupyter", "lab", f"--port={port}", f"--notebook-dir={notebooks}"]
    if no_browser:
        args.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")  # containers and fresh cloud machines log in as root; JupyterLab refuses it
    if (notebooks / "01_quickstart.ipynb").exists():
        args.append(str(notebooks / "01_quickstart.ipynb"))
    raise SystemExit(subprocess.call(args))


if __name__ == "__main__":
    main()
