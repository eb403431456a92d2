"""The conversion matrix's report: a path table (source framework x target format, per
model), a hop table, and a heatmap of label disagreement, from the gathered ``matrix`` table
(one row per hop of every path)."""

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


def heatmap(paths: pd.DataFrame, png: Path) -> None:
    """Label disagreement per (source, path) and model; crossed-out cells did not run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = (paths["source"] + ": " + paths["path"]).drop_duplicates().tolist()
    models = paths["model"].drop_duplicates().tolist()
    values = np.full((len(labels), len(models)), np.nan)
    for _, row in paths.iterrows():
        if isinstance(row["disagreement"], float):
            i = labels.index(f"{row['source']}: {row['path']}")
            values[i, models.index(row["model"])] = row["disagreement"]
    figure, axes = plt.subplots(figsize=(1.4 * len(models) + 3, 0.35 * len(labels) + 1.5))
    image = axes.imshow(values, cmap="viridis", vmin=0, vmax=max(np.nanmax(values), 1e-3)
                        if np.isfinite(values).any() else 1)  # fmt: skip
    for i, j in zip(*np.where(~np.isfinite(values)), strict=True):
        axes.text(j, i, "×", ha="center", va="center", color="grey")
    axes.set_xticks(range(len(models)), models)
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    figure.colorbar(image, ax=axes, label="top-1 label disagreement")
    axes.set_title("Conversion matrix (× = failed or not run)")
    figure.tight_layout()
    figure.savefig(png, dpi=120)
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
