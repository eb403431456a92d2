"""The conversion matrix's report: a path table (source framework x target format, per
model), a hop table, and a heatmap of the largest output difference (with the label
disagreement where labels changed), from the gathered ``matrix`` table (one row per hop of
every path)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from convstudy.report.tables import NOT_RUN

logger = logging.getLogger(__name__)

#: The heatmap's file stem.
FIGURE = "matrix_heatmap"
TITLES = {
    "matrix_paths": "Conversion matrix: every path's final model against the source model",
    "matrix_hops": "Conversion matrix: every hop (status, time, size, outputs after the hop)",
}
#: The heatmap's colour scale (largest absolute logit difference).
SCALE = (1e-8, 1.0)
_METRICS = [
    "disagreement",
    "topk_tau",
    "abs_error_logit",
    "max_abs_error_logit",
    "nonfinite_samples",
]


def _metric(frame: pd.DataFrame, column: str) -> pd.Series:
    name = f"hop_{column}"
    return frame[name] if name in frame else pd.Series(float("nan"), index=frame.index)


def matrix_paths(matrix: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, source framework, path): status, the final model's metrics
    (mean over seeds), the first hop that changed labels and the worst hop."""
    rows = []
    for (model, framework, path), group in matrix.groupby(
        ["model", "framework", "path"], sort=False
    ):
        final = group[group["final"].astype(bool)]
        row: dict[str, object] = {
            "model": model,
            "source": framework,
            "path": path,
            "target": final["target"].iloc[0],
            "seeds": final["seed"].nunique(),
            "status": "/".join(sorted(final["status"].unique())),
        }
        for column in _METRICS:
            values = _metric(final, column).dropna()
            row[column] = float(values.mean()) if len(values) else NOT_RUN
        changed = final["first_changed_hop"]
        row["first_changed_hop"] = int(changed.max()) if (changed > 0).any() else "none"
        steps = group.copy()
        steps["step"] = (
            _metric(steps, "disagreement")
            .fillna(0.0)
            .groupby(steps["seed"])
            .diff()
            .fillna(_metric(steps, "disagreement").fillna(0.0))
        )
        worst = steps.loc[steps["step"].idxmax()] if steps["step"].max() > 0 else None
        row["worst_hop"] = "none" if worst is None else worst["hop_route"]
        reasons = final.loc[final["status"] != "ok", "reason"].dropna().unique()
        row["reason"] = "; ".join(reasons)
        rows.append(row)
    return pd.DataFrame(rows)


def matrix_hops(matrix: pd.DataFrame) -> pd.DataFrame:
    """One row per hop of every path (first seed): what converted it, how it went, and its
    model's outputs against the source's."""
    first_seed = matrix[matrix["seed"] == matrix["seed"].min()]
    columns = {
        "model": "model",
        "framework": "source",
        "path": "path",
        "hop_hop": "hop",
        "hop_source_format": "from",
        "hop_format": "to",
        "hop_converter": "converter",
        "hop_status": "status",
        "hop_seconds": "seconds",
        "hop_size_bytes": "bytes",
        **{f"hop_{m}": m for m in _METRICS},
        "hop_reason": "reason",
    }
    present = [c for c in columns if c in first_seed]
    return first_seed[present].rename(columns=columns).reset_index(drop=True)


def _value(value: object) -> float:
    """A metric of the path table as a number (NaN for "not run")."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _failure(row: pd.Series) -> str:
    """A failed or skipped path's cell text: what (error / not run), and the exception
    type and hop from its reason."""
    what = "not run" if "not_run" in str(row["status"]).split("/") else "error"
    reason = str(row.get("reason") or "")
    parts = [p.strip() for p in reason.split(":")[:2]]
    kind = next((p for p in reversed(parts) if p and " " not in p), "")
    where = parts[0] if parts and parts[0] != kind else ""
    return "\n".join(t for t in (what, kind, where) if t)


def heatmap(paths: pd.DataFrame, png: Path) -> None:
    """Per (source, path) and model: the largest absolute logit difference between the
    path's final model and its source model, on a log scale and written in the cell, with
    the label disagreement where any label changed; a path that failed or did not run is
    grey, with the error's type and hop."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LogNorm

    labels = (paths["source"] + ": " + paths["path"]).drop_duplicates().tolist()
    models = paths["model"].drop_duplicates().tolist()
    shape = (len(labels), len(models))
    values, changed = np.full(shape, np.nan), np.full(shape, np.nan)
    texts = np.full(shape, "", dtype=object)
    for _, row in paths.iterrows():
        i, j = labels.index(f"{row['source']}: {row['path']}"), models.index(row["model"])
        error, share = _value(row["max_abs_error_logit"]), _value(row["disagreement"])
        if np.isnan(error):
            texts[i, j] = _failure(row)
            continue
        values[i, j], changed[i, j] = error, share
        texts[i, j] = "0 (exact)" if error == 0 else f"{error:.1e}"
        if share > 0:
            texts[i, j] += f"\n{share:.1%} labels"
    # a fixed span of decades, so that float32 round-off (1e-7 to 1e-5) reads as small
    # next to a real fault (1e-2 and above) in every run
    positive = values[np.isfinite(values) & (values > 0)]
    low = min(SCALE[0], positive.min()) if positive.size else SCALE[0]
    high = max(SCALE[1], positive.max()) if positive.size else SCALE[1]
    width = 2.4 + 1.3 * len(models)
    figure, axes = plt.subplots(figsize=(width, 0.42 * len(labels) + 1.5), layout="constrained")
    shown = np.where(values > 0, values, np.nan)
    image = axes.imshow(shown, cmap="viridis", norm=LogNorm(low, high), aspect="auto")
    grey = np.where(np.isnan(values), 1.0, np.nan)  # failed or not run
    exact = np.where(values == 0, 1.0, np.nan)  # bit-identical outputs
    axes.imshow(grey, cmap="Greys", vmin=0, vmax=4, aspect="auto")
    axes.imshow(exact, cmap="Greys", vmin=0, vmax=10, aspect="auto")
    for (i, j), text in np.ndenumerate(texts):
        dark = np.isfinite(shown[i, j]) and shown[i, j] < np.sqrt(low * high)
        bold = np.isfinite(changed[i, j]) and changed[i, j] > 0
        axes.text(j, i, text, ha="center", va="center", fontsize=6.5,
                  color="white" if dark else "black", weight="bold" if bold else "normal")  # fmt: skip
    axes.set_xticks(range(len(models)), models, fontsize=8)
    axes.xaxis.tick_top()
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set_xticks(np.arange(len(models) + 1) - 0.5, minor=True)
    axes.set_yticks(np.arange(len(labels) + 1) - 0.5, minor=True)
    axes.grid(which="minor", color="white", linewidth=1.5)
    axes.tick_params(which="minor", length=0)
    figure.colorbar(image, ax=axes, label="largest |logit difference| (log scale)", shrink=0.8)
    axes.set_title("Conversion matrix: final model vs source (grey: failed or not run)", fontsize=9)
    figure.savefig(png, dpi=130)
    plt.close(figure)


def write_matrix_report(matrix_csv: str | Path, out_dir: str | Path) -> None:
    """Write the path and hop tables (CSV and Markdown) and the heatmap into ``out_dir``."""
    from convstudy.report import write_table

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    matrix = pd.read_csv(matrix_csv)
    paths = matrix_paths(matrix)
    write_table(paths, out_dir, "matrix_paths", TITLES["matrix_paths"])
    write_table(matrix_hops(matrix), out_dir, "matrix_hops", TITLES["matrix_hops"])
    heatmap(paths, out_dir / f"{FIGURE}.png")
