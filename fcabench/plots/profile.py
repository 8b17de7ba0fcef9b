"""Per-layer views of profiles (``fcabench.profile`` DataFrames): MACs by component, units per layer.

A profile has one row per module; encoder layers carry ``layer`` (0-based). Several profiles (a list, or
one DataFrame holding several methods) are split by (method, model, seq_len) and drawn side by side.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from fcabench.errors import FcabenchError
from fcabench.plots.style import COLUMN_WIDTH_IN, COMPONENTS, PAPER_RC, TEXT_WIDTH_IN, method_style

PROFILE_COLUMNS = ("method", "module", "layer", "tokens_in", "macs", *COMPONENTS)
LAYER_COMPONENTS = [c for c in COMPONENTS if c != "macs_other"]  # macs_other is pooler/classifier only


def read_profile(path: str | Path) -> pd.DataFrame:
    """A profile written by ``fcabench profile --output`` (.csv, .json or .parquet)."""
    path = Path(path)
    if not path.is_file():
        raise FcabenchError(f"{path}: no such profile file")
    try:
        if path.suffix == ".csv":
            frame = pd.read_csv(path)
        elif path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix == ".json":
            try:
                frame = pd.read_json(path)
            except ValueError:
                frame = pd.read_json(path, lines=True)
        else:
            raise FcabenchError(f"{path}: profiles are read from .csv, .json or .parquet, not {path.suffix!r}")
    except (ValueError, OSError) as error:
        if isinstance(error, FcabenchError):
            raise
        raise FcabenchError(f"{path}: cannot read this profile ({error})") from None
    return check_profile(frame, str(path))


def check_profile(frame: pd.DataFrame, name: str = "profile") -> pd.DataFrame:
    missing = [c for c in PROFILE_COLUMNS if c not in frame.columns]
    if missing:
        raise FcabenchError(f"{name}: not a fcabench profile, missing column(s) {', '.join(missing)}")
    frame = frame.copy()
    frame["method"] = frame["method"].fillna("vanilla").replace("", "vanilla").astype(str)
    frame["layer"] = pd.to_numeric(frame["layer"], errors="coerce").astype("Int64")
    return frame


def split_profiles(profiles) -> list[tuple[str, pd.DataFrame]]:
    """(title, rows) per (method, model, seq_len), in the order given; titles say what differs."""
    frames = [profiles] if isinstance(profiles, pd.DataFrame) else list(profiles)
    if not frames:
        raise FcabenchError("no profiles to plot")
    groups = []
    for frame in frames:
        frame = check_profile(frame)
        keys = [k for k in ("method", "model", "seq_len") if k in frame.columns]
        for key, rows in frame.groupby(keys, sort=False):
            groups.append((dict(zip(keys, key if isinstance(key, tuple) else (key,))), rows))
    varying = [k for k in ("model", "seq_len") if len({g[0].get(k) for g in groups}) > 1]
    titled = []
    for key, rows in groups:
        extra = [f"n = {key[k]}" if k == "seq_len" else str(key[k]) for k in varying]
        titled.append((key["method"], " ".join([method_style(key["method"]).label] + ([f"({', '.join(extra)})"] if extra else [])), rows))
    return titled


def _unit(max_value: float) -> tuple[float, str]:
    for scale, name in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if max_value >= scale:
            return scale, name
    return 1.0, ""


def plot_layers(profiles, width_in: float | None = None) -> Figure:
    """Per-layer MACs stacked by component, one panel per profile, shared y axis (vanilla beside a method).
    Only encoder layers are drawn (pooler and classifier are a constant in each panel's total)."""
    groups = split_profiles(profiles)
    components = [c for c in LAYER_COMPONENTS if any(rows[c].fillna(0).sum() > 0 for _, _, rows in groups)]
    peak = max(_stack(rows, components).sum(axis=1).max() for _, _, rows in groups)
    scale, prefix = _unit(peak)
    n = len(groups)
    width = width_in or (COLUMN_WIDTH_IN if n <= 2 else TEXT_WIDTH_IN)
    with plt.rc_context(PAPER_RC):
        fig, axes = plt.subplots(1, n, figsize=(width, 2.1), sharey=True, squeeze=False, layout="constrained")
        first_method, first_total = groups[0][0], groups[0][2]["macs"].sum()
        for ax, (method, title, rows) in zip(axes[0], groups):
            stacked = _stack(rows, components) / scale
            bottom = pd.Series(0.0, index=stacked.index)
            for component in components:
                ax.bar(stacked.index, stacked[component], bottom=bottom, width=0.8,
                       color=COMPONENTS[component][1], linewidth=0)
                bottom = bottom + stacked[component]
            ax.xaxis.get_major_locator().set_params(integer=True)
            total = rows["macs"].sum()
            ratio = f", {total / first_total:.2f}× {first_method}" if total != first_total and first_total else ""
            ax.set_title(f"{title}\n{total / 1e9:.3g} GMACs in all{ratio}")
            ax.set_xlabel("Encoder layer")
            ax.grid(axis="x", visible=False)
        axes[0][0].set_ylabel(f"MACs per layer ({prefix})")
        handles = [Patch(color=COMPONENTS[c][1], label=COMPONENTS[c][0]) for c in components]
        fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    return fig


def _stack(rows: pd.DataFrame, components: list[str]) -> pd.DataFrame:
    """Component MACs per encoder layer (index: layer number)."""
    layers = rows[rows["layer"].notna()].copy()
    table = layers.groupby(layers["layer"].astype(int))[components].sum().fillna(0)
    return table.astype(float)


def plot_tokens(profiles, ax: Axes | None = None, width_in: float | None = None) -> Axes:
    """Units entering each encoder layer's attention, one line per profile in its method's style."""
    groups = split_profiles(profiles)
    with plt.rc_context(PAPER_RC):
        if ax is None:
            _, ax = plt.subplots(figsize=(width_in or COLUMN_WIDTH_IN, 2.0), layout="constrained")
        for method, title, rows in groups:
            layers = rows[rows["layer"].notna()].sort_values("layer")
            style = method_style(method)
            ax.plot(layers["layer"].astype(int), layers["tokens_in"], marker=style.marker, color=style.color,
                    markersize=3.5, label=title)
        ax.set_xlabel("Encoder layer")
        ax.set_ylabel("Units entering attention (tokens + clusters)")
        ax.set_ylim(bottom=0)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(frameon=False)
    return ax
