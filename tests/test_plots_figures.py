"""Rendered figures: files exist and are non-trivial, axes carry units, one legend entry per method."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import fcabench.runs as runs  # noqa: E402
from fcabench.cli.plot import app  # noqa: E402
from fcabench.errors import FcabenchError  # noqa: E402
from fcabench.plots import plot_layers, plot_pareto, plot_tokens, save_figure, tradeoff_points  # noqa: E402
from fcabench.plots.style import METHOD_STYLES, method_style  # noqa: E402
from fcabench.plots.tradeoff import (  # noqa: E402
    CLAIM_LABEL,
    FRONT_LABEL,
    INTERVAL_LABEL,
    REFERENCE_LABEL,
    TRAINING_FREE_LABEL,
)
from fcabench.runs.published import TABLES  # noqa: E402
from tests.helpers import closed_form_profile, legend_labels

KEYS = {
    FRONT_LABEL,
    REFERENCE_LABEL,
    CLAIM_LABEL,
    TRAINING_FREE_LABEL,
    INTERVAL_LABEL,
}  # legend entries that explain the drawing, not a method

BUNDLED = TABLES  # the published tables bundled in the package, read as runs
UNIT_MARKERS = ("(%)", "(×", "(G", "relative to", "(M)", "(tokens")


@pytest.fixture(scope="module")
def published():
    return runs.load(BUNDLED)


VANILLA = closed_form_profile("vanilla", [128] * 12)
POWER = closed_form_profile("power-bert", [128] * 4 + [64] * 4 + [32] * 4)


def assert_figure_files(fig, folder: Path, stem: str):
    for suffix, minimum in ((".png", 20_000), (".svg", 10_000), (".pdf", 5_000)):
        path = save_figure(fig, folder / f"{stem}{suffix}")
        assert path.is_file() and path.stat().st_size > minimum, (path, path.stat().st_size)
    assert (folder / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("x", ["speedup", "flops", "flops-rel"])
def test_pareto_figure_files_units_and_legend(tmp_path, published, x):
    fig = plot_pareto(published, x=x, labels=True)
    try:
        points = tradeoff_points(published, x=x)
        methods = sorted(points["method"].unique())
        labels = legend_labels(fig)
        # One legend entry per method drawn (plus the front), in each method's fixed label.
        expected = [method_style(m).label if m != "vanilla" else "BERT-base (no reduction)" for m in methods]
        assert sorted(l for l in labels if l not in KEYS) == sorted(expected)  # the unreduced model by its backbone
        assert len(labels) == len(set(labels))
        visible = [ax for ax in fig.axes if ax.get_visible()]
        assert len(visible) == points["facet"].nunique()
        x_label = fig.get_supxlabel() if len(visible) > 1 else visible[0].get_xlabel()
        assert any(u in x_label for u in UNIT_MARKERS), x_label
        for ax in visible:
            assert any(u in ax.get_ylabel() for u in UNIT_MARKERS), ax.get_ylabel()
            assert ax.get_title()
        assert_figure_files(fig, tmp_path, f"pareto-{x}")
    finally:
        plt.close(fig)


def test_each_method_keeps_its_colour_in_every_figure(published):
    colours = {}
    for x in ("speedup", "flops-rel"):
        fig = plot_pareto(published, x=x)
        for legend in fig.legends:
            for handle, text in zip(legend.legend_handles, legend.get_texts()):
                if text.get_text() not in KEYS:
                    colours.setdefault(text.get_text(), set()).add(matplotlib.colors.to_hex(handle.get_color()))
        plt.close(fig)
    assert all(len(c) == 1 for c in colours.values())
    assert len({s.color for s in METHOD_STYLES.values()}) == len(METHOD_STYLES)  # no two methods share a colour


def test_published_speedup_facets_are_the_tables_with_a_trade_off(published):
    facets = set(tradeoff_points(published, x="speedup")["facet"])
    # PoWER-BERT's nine GLUE test tasks and Focus on the Core's BBC News sweeps (Tables 4 and 5).
    assert len(facets) == 10 and "BBC News, n = 512" in facets and "CoLA, test, n = 64" in facets


def test_front_points_in_a_facet_are_undominated(published):
    bbc = tradeoff_points(published, x="flops-rel", tasks=["BBC News"])
    front = bbc[bbc["on_front"]]
    assert "L12" not in set(front["config_label"])  # 0.96x FLOPs, 97.6: L11 is cheaper and better
    assert "L7" in set(front["config_label"])


def test_intermediate_training_stages_are_not_drawn(published):
    """A search stage scores a model that is not the method's result: only the stage after it is a point."""
    measured = pd.DataFrame(
        [
            dict(
                published.iloc[0],
                run_id=f"m-{stage}",
                source="measured",
                task="BBC News",
                split="validation",
                seq_len=128,
                method=method,
                metric="accuracy",
                score=score,
                flops_rel_bert_base=rel,
                stage=stage,
            )
            for method, stage, score, rel in [
                ("vanilla", "fine-tune", 96.0, 0.13),
                ("power-bert", "search", 91.0, 0.13),
                ("power-bert", "retrain", 97.0, 0.06),
            ]
        ]
    )
    points = tradeoff_points(measured, x="flops-rel", tasks=["bbc-news"])
    assert sorted(points["stage"]) == ["fine-tune", "retrain"]


def test_a_missing_cost_names_the_costs_the_runs_have(published):
    """Measured runs have FLOPs but no speed-up: the default x axis fails with the axes that would work."""
    measured = published.iloc[:2].assign(
        source="measured",
        task="BBC News",
        seq_len=128,
        metric="accuracy",
        method=["vanilla", "ltp"],
        score=[96.0, 95.0],
        speedup=None,
        flops=[2.0e9, 1.0e9],
        flops_rel_bert_base=None,
    )
    with pytest.raises(FcabenchError, match="these runs have --x flops or macs-rel$"):
        tradeoff_points(measured)


def test_no_drawable_runs_is_a_user_error(published):
    with pytest.raises(FcabenchError, match="no scored runs"):
        plot_pareto(published, x="flops", tasks=["CoLA"])  # PoWER-BERT published wall-clock only


def test_layers_figure_stacks_components_per_layer(tmp_path):
    fig = plot_layers([VANILLA, POWER])
    try:
        left, right = fig.axes[:2]
        assert "MACs" in left.get_ylabel() and "(M)" in left.get_ylabel()
        assert left.get_xlabel() == "Encoder layer"
        heights = [p.get_height() for p in right.patches]
        # 3 components x 12 layers; the FFN of layer 3 runs on 64 units (placement rule), so its bar halves.
        assert len(heights) == 36
        assert legend_labels(fig) == ["Attention projections (Q, K, V, O)", "Attention scores + context", "FFN"]
        ffn = heights[24:36]  # stacking order: projections, scores + context, FFN
        assert ffn[3] == pytest.approx(ffn[2] / 2) and ffn[7] == pytest.approx(ffn[6] / 2)
        assert ffn[2] == pytest.approx(8 * 128 * 768**2 / 1e6)  # docs/counting.md: FFN = 8 n d^2, axis in M
        ratio = POWER["macs"].sum() / VANILLA["macs"].sum()
        assert f"{ratio:.2f}× vanilla" in right.get_title()
        assert_figure_files(fig, tmp_path, "layers")
    finally:
        plt.close(fig)


def test_tokens_figure_one_step_line_per_method(tmp_path):
    ax = plot_tokens([VANILLA, POWER])
    try:
        assert [line.get_ydata().tolist() for line in ax.get_lines()] == [[128] * 12, [128] * 4 + [64] * 4 + [32] * 4]
        assert all(line.get_drawstyle() == "steps-mid" for line in ax.get_lines())  # constant within a layer
        assert legend_labels(ax.figure) == ["BERT-base (no reduction)", "PoWER-BERT"]  # named by its backbone
        assert ax.get_legend() is None  # the legend sits below the axes, never on the lines
        assert "Units" in ax.get_ylabel()
        assert_figure_files(ax.figure, tmp_path, "tokens")
    finally:
        plt.close(ax.figure)


def test_save_figure_refuses_unknown_formats(tmp_path):
    fig = plt.figure()
    with pytest.raises(FcabenchError, match="jpg"):
        save_figure(fig, tmp_path / "figure.jpg")
    plt.close(fig)


def test_cli_plot_commands(tmp_path):
    cli = CliRunner()
    vanilla, power = tmp_path / "vanilla.csv", tmp_path / "power.csv"
    VANILLA.to_csv(vanilla, index=False)
    POWER.to_csv(power, index=False)
    pareto = cli.invoke(app, ["pareto", str(BUNDLED), "-o", str(tmp_path / "p.png"), "-o", str(tmp_path / "p.pdf")])
    assert pareto.exit_code == 0, pareto.output
    layers = cli.invoke(app, ["layers", str(vanilla), str(power), "-o", str(tmp_path / "l.svg")])
    tokens = cli.invoke(app, ["tokens", str(vanilla), str(power), "-o", str(tmp_path / "t.png")])
    assert layers.exit_code == 0 and tokens.exit_code == 0, layers.output + tokens.output
    for name in ("p.png", "p.pdf", "l.svg", "t.png"):
        assert (tmp_path / name).stat().st_size > 5_000


def test_seeds_are_one_point_with_its_interval_and_training_free_points_are_hollow(published):
    """Three seeds of each configuration: one point at their mean with a t-interval bar; MACs relative to the
    same backbone's unreduced run; the unreduced model named by its backbone; training-free hollow."""
    from matplotlib.collections import PathCollection

    from fcabench.runs.stats import t_interval

    rows = []
    for seed, (v, pb, free) in enumerate([(96.0, 94.0, 90.0), (97.0, 95.0, 91.0), (98.0, 93.0, 89.0)]):
        for method, stage, score, macs in (
            ("vanilla", "fine-tune", v, 4e9),
            ("power-bert", "retrain", pb, 2e9),
            ("power-bert", "training-free", free, 2e9),
        ):
            rows.append(
                dict(
                    run_id=f"{method}-{stage}-{seed}",
                    seed=seed,
                    method=method,
                    stage=stage,
                    score=score,
                    macs=macs,
                    method_config={"retention": [8, 4]} if method != "vanilla" else {},
                )
            )
    measured = published.iloc[: len(rows)].assign(
        source="measured",
        task="BBC News",
        split="validation",
        seq_len=128,
        metric="accuracy",
        model="minilm-l6",
        speedup=None,
        flops_rel_bert_base=None,
        data_sha256="d" * 64,
        repeat_of=None,
        count_length="padded",
        **{k: [r[k] for r in rows] for k in rows[0]},
    )
    points = tradeoff_points(measured, x="macs-rel")
    assert len(points) == 3 and (points["n"] == 3).all()
    retrained = points[points["stage"] == "retrain"].iloc[0]
    assert retrained["score"] == pytest.approx(94.0) and retrained["x_value"] == pytest.approx(0.5)
    assert (retrained["score_ci_low"], retrained["score_ci_high"]) == pytest.approx(t_interval([94.0, 95.0, 93.0]))
    fig = plot_pareto(measured, x="macs-rel")
    try:
        labels = legend_labels(fig)
        assert "MiniLM-L6 (no reduction)" in labels and TRAINING_FREE_LABEL in labels and INTERVAL_LABEL in labels
        ax = fig.axes[0]
        assert ax.get_xlabel() == "MACs relative to the same backbone unreduced"
        faces = [c.get_facecolors() for c in ax.collections if isinstance(c, PathCollection)]
        assert sum(len(f) == 0 or f[0][3] == 0 for f in faces) == 1  # the training-free point alone is hollow
        bars = [
            line
            for line in ax.get_lines()
            if line.get_linestyle() == "-" and len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]
        ]
        assert sorted(round(float(min(b.get_ydata())), 3) for b in bars) == sorted(
            round(t_interval(s)[0], 3) for s in ([96, 97, 98], [94, 95, 93], [90, 91, 89])
        )
    finally:
        plt.close(fig)
