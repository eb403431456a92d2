"""A localization as Markdown and as a per-layer figure."""

from __future__ import annotations

from pathlib import Path

from convstudy.localization.comparison.result import Localization

_FLOOR = 1e-12  # plotted in place of an exact 0 on the log axis


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _cell(text: str | None) -> str:
    return "-" if not text else str(text).replace("|", "\\|")


def verdict(loc: Localization) -> str:
    """The localization in one line: equivalent (within what quantization explains), or
    where it first diverges and by what (a value with its metric, a hyperparameter with
    both settings, a layer only one model has with its name)."""
    first = loc.first_divergent
    quantized = loc.run.get("quantization") or {}
    if first is None:
        if not quantized:
            return "equivalent within tolerance"
        what = "; ".join(f"{role}: {kind}" for role, kind in quantized.items())
        return (
            f"equivalent within tolerance and the expected quantization error ({what}; "
            f"outputs {_num(loc.outputs.relative)} relative, "
            f"{_num(loc.outputs.expected)} expected)"
        )
    if first.stage == "structure":
        return f"first divergence (structure): {first.detail}"
    where = (
        f"first divergence ({first.stage}): source {first.source_node} -> target "
        f"{first.target_node} ({first.op_type})"
    )
    if first.stage == "hyperparameters":
        return f"{where}, {first.detail}"
    return f"{where}, {first.metric} = {_num(first.value)}"


def markdown(loc: Localization, *, title: str = "Localization") -> str:
    """A Markdown report: verdict, outputs, one row per aligned layer, divergent details."""
    lines = [f"# {title}", ""]
    first = loc.first_divergent
    if first is None:
        lines.append(
            f"**Equivalent** within tolerance {loc.tolerance:g} (activations) and "
            f"{loc.parameter_tolerance:g} (parameters)"
            + (
                f", and the error quantization explains ({loc.run['quantization']})."
                if loc.run.get("quantization")
                else "."
            )
        )
    else:
        lines.append(
            f"**First divergence** ({first.stage}): source `{first.source_node}` -> target "
            f"`{first.target_node}` ({first.op_type}); {first.metric} = {_num(first.value)}."
        )
        if first.detail:
            lines.append(f"  {first.detail}")
    out = loc.outputs
    lines += [
        "",
        (
            f"Outputs on {out.n_inputs} inputs: top-1 disagreement {out.disagreement:.2%}, "
            f"mean |diff| {_num(out.mean_abs_diff)}, relative {_num(out.relative)}."
        ),
        "",
        (
            "| # | kind | source node | target node | parameters (max rel.) | hyperparameters "
            "| activation (rel.) | quantization (expected rel.) |"
        ),
        "| ---: | --- | --- | --- | ---: | --- | ---: | ---: |",
    ]
    p_max: dict[int, float] = {}
    p_flag: dict[int, bool] = {}
    for row in loc.parameters:
        if row.relative is not None:
            p_max[row.position] = max(p_max.get(row.position, 0.0), row.relative)
        p_flag[row.position] = p_flag.get(row.position, False) or row.divergent
    h_diff: dict[int, list[str]] = {}
    for h in loc.hyperparameters:
        if h.divergent:
            h_diff.setdefault(h.position, []).append(
                f"{h.name}: {h.source_value} -> {h.target_value}"
            )
    acts = {a.position: a for a in loc.activations}
    for m in loc.matches:
        act = acts.get(m.position)
        p_text = _num(p_max.get(m.position)) + (" **!**" if p_flag.get(m.position) else "")
        a_text = "-" if act is None else (_num(act.relative) + (" **!**" if act.divergent else ""))
        q_text = "-" if act is None or not act.expected else _num(act.expected)
        lines.append(
            f"| {m.position} | {m.kind} | {_cell(m.source_node)} | {_cell(m.target_node)} "
            f"| {p_text} | {_cell('; '.join(h_diff.get(m.position, [])))} | {a_text} "
            f"| {q_text} |"
        )
    divergent = [r for r in loc.parameters if r.divergent]
    if divergent:
        lines += [
            "",
            "## Divergent parameters",
            "",
            (
                "| # | target node | parameter | shape | mean abs diff | relative "
                "| largest (rel.) | expected | note |"
            ),
            "| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
        ]
        for r in divergent:
            lines.append(
                f"| {r.position} | {_cell(r.target_node)} | {r.parameter} | {r.shape} "
                f"| {_num(r.mean_abs_diff)} | {_num(r.relative)} | {_num(r.max_relative)} "
                f"| {_num(r.expected)} | {_cell(r.note)} |"
            )
    lines += ["", f"Run: {loc.run}", ""]
    return "\n".join(lines)


def figure(loc: Localization, path: str | Path) -> Path:
    """Per-layer relative differences (parameters and activations) on a log axis, the
    tolerance as a line and the first divergence marked; written to ``path`` (PNG or SVG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.22 * len(loc.matches) + 3), 3.6))
    acts = [
        (a.position, max(a.relative, _FLOOR)) for a in loc.activations if a.relative is not None
    ]
    params: dict[int, float] = {}
    for r in loc.parameters:
        if r.relative is not None:
            params[r.position] = max(params.get(r.position, _FLOOR), r.relative, _FLOOR)
    if acts:
        ax.plot(*zip(*acts, strict=True), "o-", ms=3, label="activation (relative)")
    if params:
        xs = sorted(params)
        ax.plot(xs, [params[x] for x in xs], "s", ms=3, label="parameters (max relative)")
    ax.axhline(loc.tolerance, color="grey", ls="--", lw=1, label=f"tolerance {loc.tolerance:g}")
    first = loc.first_divergent
    if first is not None:
        position = next(
            (
                m.position
                for m in loc.matches
                if m.target_node == first.target_node or m.source_node == first.source_node
            ),
            None,
        )
        if position is None and first.target_node is not None:
            match = loc.match_of(first.target_node)
            position = None if match is None else match.position
        if position is not None:
            ax.axvline(position, color="red", lw=1, label=f"first divergence ({first.stage})")
    ax.set_yscale("log")
    ax.set_xlabel("aligned layer")
    ax.set_ylabel("relative difference")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
