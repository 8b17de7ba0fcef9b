"""Per-layer views of profiles (``fcabench.profile`` DataFrames): MACs by component, units per layer.

A profile has one row per module; encoder layers carry ``layer`` (0-based). Several profiles (a list, or
one DataFrame holding several methods) are split by (method, model, seq_len) and drawn side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from fcabench.errors import FcabenchError
from fcabench.plots.style import (
    COLUMN_WIDTH_IN,
    COMPONENTS,
    PAPER_RC,
    REFERENCE_METHODS,
    TEXT_WIDTH_IN,
    method_style,
    reference_label,
)

PROFILE_COLUMNS = ("method", "module", "layer", "tokens_in", "macs", *COMPONENTS)
LAYER_COMPONENTS = [c for c in COMPONENTS if c != "macs_other"]  # macs_other is pooler/classifier only
LAYER_PANELS_PER_ROW = 4  # at text width a panel stays about 1.7 in wide: titles and bars stay legible


TIME_COLUMNS = ("model", "layer", "component", "ms", "macs", "layer_speedup", "seq_len", "batch_size")


def read_profile(path: str | Path, columns=PROFILE_COLUMNS, kind: str = "profile") -> pd.DataFrame:
    """A profile written by ``fcabench profile --output`` (.csv, .json or .parquet); with ``columns=TIME_COLUMNS``,
    a per-layer timing table of ``fcabench bench --per-layer --output``."""
    path = Path(path)
    if not path.is_file():
        raise FcabenchError(f"{path}: no such {kind} file")
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
            raise FcabenchError(f"{path}: {kind}s are read from .csv, .json or .parquet, not {path.suffix!r}")
    except (ValueError, OSError) as error:
        if isinstance(error, FcabenchError):
            raise
        raise FcabenchError(f"{path}: cannot read this {kind} ({error})") from None
    if columns is not PROFILE_COLUMNS:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise FcabenchError(f"{path}: not a {kind}: missing column(s) {', '.join(missing)}")
        return frame
    return check_profile(frame, str(path))


def check_profile(frame: pd.DataFrame, name: str = "profile") -> pd.DataFrame:
    missing = [c for c in PROFILE_COLUMNS if c not in frame.columns]
    if missing:
        raise FcabenchError(f"{name}: not a fcabench profile, missing column(s) {', '.join(missing)}")
    frame = frame.copy()
    frame["method"] = frame["method"].fillna("vanilla").replace("", "vanilla").astype(str)
    frame["layer"] = pd.to_numeric(frame["layer"], errors="coerce").astype("Int64")
    if frame["layer"].notna().sum() == 0:
        raise FcabenchError(f"{name}: no encoder layer rows (an empty or cut-short profile); nothing to draw")
    return frame


@dataclass(frozen=True)
class ProfileGroup:
    """The rows of one profile: one method, configuration, model and length."""

    method: str
    config: str  # the configuration's label ("" when the profile does not say)
    model: str
    seq_len: object
    title: str  # what tells this profile apart from the others drawn with it
    rows: pd.DataFrame = field(compare=False, repr=False)


KEYS = ("method", "config_label", "model", "seq_len")


def split_profiles(profiles, labels=None) -> list[ProfileGroup]:
    """One group per (method, configuration, model, seq_len), in the order given; titles name the method and
    what differs between the groups (configuration, model, length), or the ``labels`` given, one per group."""
    frames = [profiles] if isinstance(profiles, pd.DataFrame) else list(profiles)
    if not frames:
        raise FcabenchError("no profiles to plot")
    raw = []
    for frame in frames:
        frame = check_profile(frame)
        keys = [k for k in KEYS if k in frame.columns]
        for key, rows in frame.groupby(keys, sort=False, dropna=False):
            raw.append((dict(zip(keys, key if isinstance(key, tuple) else (key,))), rows))
    if labels is not None and len(labels) != len(raw):
        raise FcabenchError(f"{len(labels)} label(s) for {len(raw)} profile(s): give one --label per profile")
    varying = [k for k in KEYS[1:] if len({str(g[0].get(k)) for g in raw}) > 1]
    configs_of = {}  # method -> its configurations drawn here: "default" is named only beside another one
    for key, _ in raw:
        configs_of.setdefault(key["method"], set()).add(str(key.get("config_label")))
    groups = []
    for i, (key, rows) in enumerate(raw):
        config = key.get("config_label")
        config = "" if config is None or (isinstance(config, float) and config != config) else str(config)
        if labels is not None:
            title = labels[i]
        else:
            extra = [
                f"n = {key[k]}" if k == "seq_len" else str(key[k])
                for k in varying
                if not (k == "config_label" and (config == "" or len(configs_of[key["method"]]) == 1))
            ]
            name = (
                f"{reference_label(key.get('model'))} (no reduction)"
                if key["method"] == "vanilla"
                else method_style(key["method"]).label
            )  # the unreduced model is named by its backbone
            title = _with_details(name, extra)
        groups.append(ProfileGroup(key["method"], config, str(key.get("model", "")), key.get("seq_len"), title, rows))
    return groups


def _with_details(label: str, details: list[str]) -> str:
    """``FCA (clusters=1, n = 64)``; a label with its own parentheses takes the details inside them."""
    if not details:
        return label
    if label.endswith(")"):
        return f"{label[:-1]}, {', '.join(details)})"
    return f"{label} ({', '.join(details)})"


def _unit(max_value: float) -> tuple[float, str]:
    for scale, name in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if max_value >= scale:
            return scale, name
    return 1.0, ""


def vanilla_ratio(group: ProfileGroup, groups: list[ProfileGroup]) -> float | None:
    """Total MACs of ``group`` over vanilla's at the SAME model and length: a vanilla profile drawn beside it,
    else the ratio ``fcabench profile`` stored (``macs_rel_vanilla``); None when neither is there."""
    if group.method in REFERENCE_METHODS:
        return None
    for other in groups:
        if other.method in REFERENCE_METHODS and other.model == group.model and other.seq_len == group.seq_len:
            return group.rows["macs"].sum() / other.rows["macs"].sum()
    if "macs_rel_vanilla" in group.rows.columns and group.rows["macs_rel_vanilla"].notna().any():
        return float(group.rows["macs_rel_vanilla"].dropna().iloc[0])
    return None


def plot_layers(profiles, width_in: float | None = None, labels=None) -> Figure:
    """Per-layer MACs stacked by component, one panel per profile, shared y axis (vanilla beside a method).
    Only encoder layers are drawn (pooler and classifier are a constant in each panel's total). Panels wrap
    into rows of at most LAYER_PANELS_PER_ROW; each title gives the total and the ratio to vanilla at the same
    length."""
    groups = split_profiles(profiles, labels)
    lengths = list(dict.fromkeys(g.seq_len for g in groups))
    groups.sort(key=lambda g: lengths.index(g.seq_len))  # a row per length when the profiles cover several
    components = [c for c in LAYER_COMPONENTS if any(g.rows[c].fillna(0).sum() > 0 for g in groups)]
    peak = max(_stack(g.rows, components).sum(axis=1).max() for g in groups)
    scale, prefix = _unit(peak)
    n = len(groups)
    per_length = -(-n // len(lengths))
    ncols = per_length if per_length <= LAYER_PANELS_PER_ROW and n % len(lengths) == 0 else min(n, LAYER_PANELS_PER_ROW)
    nrows = -(-n // ncols)
    width = width_in or (COLUMN_WIDTH_IN if n <= 2 else TEXT_WIDTH_IN)
    height = 1.9 * nrows + 0.35
    with plt.rc_context(PAPER_RC):
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(width, height), sharey=True, squeeze=False, layout="constrained"
        )
        for ax, group in zip(axes.flat, groups):
            stacked = _stack(group.rows, components) / scale
            bottom = pd.Series(0.0, index=stacked.index)
            for component in components:
                ax.bar(
                    stacked.index,
                    stacked[component],
                    bottom=bottom,
                    width=0.8,
                    color=COMPONENTS[component][1],
                    linewidth=0,
                )
                bottom = bottom + stacked[component]
            ax.xaxis.get_major_locator().set_params(integer=True)
            total = group.rows["macs"].sum()
            ratio = vanilla_ratio(group, groups)
            length = f"n = {group.seq_len}, " if group.seq_len is not None and "n = " not in group.title else ""
            rel = f", {ratio:.2f}× vanilla" if ratio is not None else ""
            ax.set_title(
                f"{group.title}\n{length}{total / 1e9:.2f} GMACs{rel}", fontsize=PAPER_RC["axes.titlesize"] - 1
            )
            ax.grid(axis="x", visible=False)
        for index, ax in enumerate(axes.flat[:n]):  # one x label per column, under its lowest panel
            if index + ncols >= n:
                ax.set_xlabel("Encoder layer")
        for row in axes:
            row[0].set_ylabel(f"MACs per layer ({prefix})")
        for ax in axes.flat[n:]:
            ax.set_visible(False)
        handles = [Patch(color=COMPONENTS[c][1], label=COMPONENTS[c][0]) for c in components]
        fig.legend(
            handles=handles, loc="outside lower center", ncol=min(len(handles), 2 if width < 4 else 4), frameon=False
        )
    return fig


def _stack(rows: pd.DataFrame, components: list[str]) -> pd.DataFrame:
    """Component MACs per encoder layer (index: layer number)."""
    layers = rows[rows["layer"].notna()].copy()
    table = layers.groupby(layers["layer"].astype(int))[components].sum().fillna(0)
    return table.astype(float)


LENGTH_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")  # Okabe-Ito
LINE_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 1)))


def plot_tokens(profiles, ax: Axes | None = None, width_in: float | None = None, labels=None) -> Axes:
    """Units entering each encoder layer's attention, one step line per profile (the count is constant within
    a layer and changes between layers). With one length, each method has its colour and marker; with
    several, each length has a colour and each method/configuration a marker and line style. The legend
    sits below the axes, off the lines."""
    groups = split_profiles(profiles, labels)
    lengths = list(dict.fromkeys(g.seq_len for g in groups))
    variants = list(dict.fromkeys((g.method, g.config) for g in groups))
    with plt.rc_context(PAPER_RC):
        own_figure = ax is None
        if own_figure:
            _, ax = plt.subplots(figsize=(width_in or COLUMN_WIDTH_IN, 2.0 + 0.12 * len(groups)), layout="constrained")
        for group in groups:
            layers = group.rows[group.rows["layer"].notna()].sort_values("layer")
            style = method_style(group.method)
            variant = variants.index((group.method, group.config))
            if len(lengths) > 1:
                color = LENGTH_COLORS[lengths.index(group.seq_len) % len(LENGTH_COLORS)]
            else:
                color = style.color
            linestyle = LINE_STYLES[variant % len(LINE_STYLES)]  # one per method/configuration
            ax.plot(
                layers["layer"].astype(int),
                layers["tokens_in"].astype(float),
                drawstyle="steps-mid",
                marker=style.marker,
                color=color,
                linestyle=linestyle,
                markersize=3.0,
                label=group.title,
                zorder=3 + variant,
            )
        ax.set_xlabel("Encoder layer")
        ax.set_ylabel("Units entering attention\n(tokens + clusters)")
        ax.set_ylim(bottom=0)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if own_figure:  # below the axes, never on a line
            ax.figure.legend(loc="outside lower center", frameon=False, ncol=1 if len(groups) <= 3 else 2)
        else:  # the caller's figure: its layout is the caller's, so the legend stays inside
            ax.legend(frameon=False)
    return ax


def plot_layer_times(times: pd.DataFrame, width_in: float | None = None) -> Figure:
    """Measured time per layer stacked by component (a ``fcabench bench --per-layer`` table), one panel per
    model, vanilla first, with each layer's MACs relative to vanilla's as a line: where a MAC cut turns into
    time and where it does not. One length and batch (the table's first)."""
    first = times.iloc[0]
    times = times[(times["seq_len"] == first["seq_len"]) & (times["batch_size"] == first["batch_size"])]
    models = list(dict.fromkeys(times["model"]))
    vanilla = times[times["model"] == models[0]].groupby("layer")["macs"].sum()
    width = width_in or (COLUMN_WIDTH_IN if len(models) <= 2 else TEXT_WIDTH_IN)
    with plt.rc_context(PAPER_RC):
        fig, axes = plt.subplots(1, len(models), figsize=(width, 2.2), sharey=True, squeeze=False, layout="constrained")
        for ax, model in zip(axes[0], models):
            rows = times[times["model"] == model]
            wide = rows.pivot_table(index="layer", columns="component", values="ms")
            bottom = pd.Series(0.0, index=wide.index)
            for component in TIME_COMPONENTS:
                ax.bar(
                    wide.index,
                    wide[component],
                    bottom=bottom,
                    width=0.8,
                    color=COMPONENTS[f"macs_{component}"][1],
                    linewidth=0,
                )
                bottom = bottom + wide[component]
            macs = rows.groupby("layer")["macs"].sum() / vanilla
            twin = ax.twinx()
            twin.plot(macs.index, macs, color="black", marker=".", linewidth=0.8)
            twin.set_ylim(0, 1.15)
            if ax is not axes[0][-1]:
                twin.set_yticklabels([])
            else:
                twin.set_ylabel("MACs / vanilla's (line)")
            speedup = rows.groupby("layer")["layer_speedup"].first()
            total = wide.sum(axis=1).sum()
            ax.set_title(
                f"{model}\n{total:.1f} ms, layers {speedup.min():.2f}–{speedup.max():.2f}× vanilla",
                fontsize=PAPER_RC["axes.titlesize"] - 1,
            )
            ax.set_xlabel("Encoder layer")
            ax.xaxis.get_major_locator().set_params(integer=True)
        axes[0][0].set_ylabel(f"ms per layer (n = {first['seq_len']}, batch {first['batch_size']})")
        handles = [Patch(color=COMPONENTS[f"macs_{c}"][1], label=COMPONENTS[f"macs_{c}"][0]) for c in TIME_COMPONENTS]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    return fig


TIME_COMPONENTS = ("attn_proj", "attn_matmul", "ffn", "method")  # fcabench.speed.layer_time.COMPONENTS, drawn in order
