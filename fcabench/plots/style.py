"""One colour and one marker per method key, the same in every figure, and paper-sized defaults.

Colours are Okabe-Ito and Paul Tol's colour-blind-safe palettes; markers differ too, so figures survive
grey-scale printing. A method that is not listed gets a stable colour and marker derived from its name.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class MethodStyle:
    label: str  # legend text
    color: str
    marker: str


METHOD_STYLES: dict[str, MethodStyle] = {
    # the reference: the unreduced model, published or measured
    "vanilla": MethodStyle("BERT (no reduction)", "#000000", "*"),
    # methods fcabench implements
    "power-bert": MethodStyle("PoWER-BERT", "#0072B2", "s"),
    "fca": MethodStyle("FCA", "#D55E00", "D"),
    "token-drop": MethodStyle("Token dropping", "#009E73", "v"),
    "ltp": MethodStyle("LTP", "#CC79A7", "^"),
    "focus-core": MethodStyle("Focus on the Core", "#E69F00", "P"),  # variants P/PF/C/PFC are configurations
    # the trivial baselines a method must beat: greys, drawn under the methods
    "truncate": MethodStyle("Truncation", "#777777", "o"),
    "layer-drop": MethodStyle("Layer dropping", "#555555", "s"),
    # published-only baselines
    "lat": MethodStyle("LAT", "#56B4E9", "<"),
    "tr-bert": MethodStyle("TR-BERT", "#882255", ">"),
    "transkimmer": MethodStyle("Transkimmer", "#44AA99", "h"),
    "tome": MethodStyle("ToMe", "#999933", "X"),
    "bigbird": MethodStyle("BigBird", "#AA4499", "p"),
    "longformer": MethodStyle("Longformer", "#661100", "d"),
    "funnel": MethodStyle("Funnel (F-TFM)", "#6699CC", "8"),
}
REFERENCE_METHODS = ("vanilla",)  # drawn as the reference in every facet

_FALLBACK_COLORS = ("#332288", "#117733", "#88CCEE", "#DDCC77", "#CC6677", "#AA4466", "#4477AA", "#228833")
_FALLBACK_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "h")

# Per-layer MACs components (plot_layers), in stacking order.
COMPONENTS = {
    "macs_attn_proj": ("Attention projections (Q, K, V, O)", "#4477AA"),
    "macs_attn_matmul": ("Attention scores + context", "#66CCEE"),
    "macs_ffn": ("FFN", "#228833"),
    "macs_method": ("Method overhead", "#EE6677"),
    "macs_other": ("Pooler + classifier", "#BBBBBB"),
}

COLUMN_WIDTH_IN = 3.3  # one column of a two-column paper
TEXT_WIDTH_IN = 6.9  # both columns

PAPER_RC = {
    "font.size": 7,
    "axes.titlesize": 7,
    "axes.labelsize": 7,
    "xtick.labelsize": 6,
    "ytick.labelsize": 6,
    "legend.fontsize": 6,
    "lines.linewidth": 1.0,
    "lines.markersize": 4,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.4,
    "savefig.dpi": 300,
    "pdf.fonttype": 42,  # embed TrueType: editable text in the PDF, accepted by publishers
    "svg.fonttype": "none",
}


def method_style(method: str) -> MethodStyle:
    """The fixed style of ``method``; unknown keys get a stable one from a hash of the name."""
    if method in METHOD_STYLES:
        return METHOD_STYLES[method]
    digest = zlib.crc32(method.encode("utf-8"))
    return MethodStyle(
        method,
        _FALLBACK_COLORS[digest % len(_FALLBACK_COLORS)],
        _FALLBACK_MARKERS[(digest // 8) % len(_FALLBACK_MARKERS)],
    )


def method_order(methods) -> list[str]:
    """References first, then the known methods in table order, then the others alphabetically."""
    known = list(METHOD_STYLES)
    return sorted(set(methods), key=lambda m: (known.index(m) if m in known else len(known), m))


def reference_label(model) -> str:
    """The unreduced model named by its backbone: MiniLM-L6 is not BERT."""
    names = {
        "minilm-l6": "MiniLM-L6",
        "bert-base": "BERT-base",
        "bert-large": "BERT-large",
        "roberta-base": "RoBERTa-base",
        "electra-base": "ELECTRA-base",
        "distilbert-base": "DistilBERT-base",
    }
    if not isinstance(model, str) or not model:
        return "BERT"
    name = model.split("/")[-1]
    return names.get(name.lower().removesuffix("-uncased").removesuffix("-cased"), name)
