"""Figures that stay legible: labels off each other, the points and the front; nothing collides at one paper
column; ratios against vanilla at the same length; configurations and lengths told apart."""

from itertools import combinations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import fcabench.runs as runs  # noqa: E402
from fcabench.errors import FcabenchError
from fcabench.plots import plot_layers, plot_pareto, plot_tokens, tradeoff_points  # noqa: E402
from fcabench.plots.tradeoff import CLAIM_LABEL, parse_range  # noqa: E402
from fcabench.runs.published import TABLES  # noqa: E402
from tests.helpers import closed_form_profile, legend_labels  # noqa: E402

BUNDLED = TABLES  # the published tables bundled in the package, read as runs


@pytest.fixture(scope="module")
def published():
    return runs.load(BUNDLED)


def boxes_overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_pareto_labels_at_one_column_overlap_no_label_and_no_point(published):
    fig = plot_pareto(published, labels=True, width_in=3.3, tasks=["BBC News"])
    try:
        renderer = fig.canvas.get_renderer()
        fig.draw(renderer)
        ax = fig.axes[0]
        texts = [t for t in ax.texts if t.get_text()]
        assert len(texts) == tradeoff_points(published, tasks=["BBC News"])["config_label"].notna().sum() > 10
        boxes = [t.get_window_extent(renderer) for t in texts]
        assert not [
            (texts[i].get_text(), texts[j].get_text())
            for i, j in combinations(range(len(boxes)), 2)
            if boxes_overlap(boxes[i], boxes[j])
        ]
        frame = ax.get_window_extent(renderer)
        assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
        front = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert len(front) == 1
        vertices = front[0]._get_transformed_path().get_fully_transformed_path().vertices  # steps, display space
        for (x0, y0), (x1, y1) in zip(vertices[:-1], vertices[1:]):  # no label sits on the Pareto front
            for t in [i / 50 for i in range(51)]:
                px, py = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                assert not any(b.x0 < px < b.x1 and b.y0 < py < b.y1 for b in boxes), (px, py)
        radius = 2.0 * fig.dpi / 72  # the marker's core
        for offsets in (c.get_offsets() for c in ax.collections):
            for px, py in ax.transData.transform(offsets):
                assert not any(
                    b.x0 < px + radius and px - radius < b.x1 and b.y0 < py + radius and py - radius < b.y1
                    for b in boxes
                ), (px, py)
    finally:
        plt.close(fig)


def test_one_column_grid_has_no_colliding_titles_or_legend(published):
    fig = plot_pareto(published, labels=True, width_in=3.3)
    try:
        renderer = fig.canvas.get_renderer()
        fig.draw(renderer)
        visible = [ax for ax in fig.axes if ax.get_visible()]
        assert len(visible) == 10 and fig.get_figwidth() == pytest.approx(3.3)
        titles = [ax.title.get_window_extent(renderer) for ax in visible]
        labels = [ax.yaxis.label.get_window_extent(renderer) for ax in visible]
        ticks = [t.get_window_extent(renderer) for ax in visible for t in ax.get_yticklabels() if t.get_text()]
        legend = fig.legends[0].get_window_extent(renderer)
        parts = titles + labels + [legend]
        assert not [(i, j) for i, j in combinations(range(len(parts)), 2) if boxes_overlap(parts[i], parts[j])]
        frames = [ax.get_window_extent(renderer) for ax in visible]
        for label in labels + ticks:  # y labels and tick labels stay out of the neighbouring panel
            assert sum(boxes_overlap(label, f) for f in frames) == 0
    finally:
        plt.close(fig)


def test_claims_of_other_modalities_only_when_asked(published):
    facets = set(tradeoff_points(published, include_claims=True)["facet"])
    assert not any("ImageNet" in f or "SQuAD" in f for f in facets)
    asked = tradeoff_points(published, include_claims=True, other_modalities=True)
    assert {"ImageNet-1k val, n = 197", "SQuAD 1.1, n = 384"} <= set(asked["facet"])
    fig = plot_pareto(published, include_claims=True, other_modalities=True)
    try:
        assert CLAIM_LABEL in legend_labels(fig)  # hollow markers are explained
    finally:
        plt.close(fig)


def test_y_range(published):
    assert parse_range("80:") == (80.0, None) and parse_range(":95.5") == (None, 95.5)
    with pytest.raises(FcabenchError, match="LOW:HIGH"):
        parse_range("80")
    fig = plot_pareto(published, tasks=["BBC News"], y_range=(95.0, 99.0))
    try:
        assert fig.axes[0].get_ylim() == (95.0, 99.0)
    finally:
        plt.close(fig)


def test_layers_ratio_is_against_vanilla_at_the_same_length():
    vanilla64 = closed_form_profile("vanilla", [64] * 12)
    vanilla128 = closed_form_profile("vanilla", [128] * 12)
    power128 = closed_form_profile("power-bert", [128] * 4 + [64] * 4 + [32] * 4)
    fig = plot_layers([vanilla64, power128, vanilla128])
    try:
        titles = {ax.get_title().split("\n")[0]: ax.get_title() for ax in fig.axes if ax.get_visible()}
        ratio = power128["macs"].sum() / vanilla128["macs"].sum()
        assert f"{ratio:.2f}× vanilla" in titles["PoWER-BERT (n = 128)"]
        assert f"{power128['macs'].sum() / vanilla64['macs'].sum():.2f}×" not in titles["PoWER-BERT (n = 128)"]
    finally:
        plt.close(fig)


def test_layers_with_many_profiles_wrap_into_rows():
    profiles = [closed_form_profile(m, [n] * 12) for n in (64, 128) for m in ("vanilla", "fca", "ltp", "tome", "lat")]
    fig = plot_layers(profiles)
    try:
        fig.draw_without_rendering()  # the constrained layout places the panels
        visible = [ax for ax in fig.axes if ax.get_visible()]
        rows = sorted({round(ax.get_position().y0, 3) for ax in visible})
        assert len(visible) == 10 and len(rows) >= 3
        assert min(ax.get_position().width for ax in visible) * fig.get_figwidth() > 1.2  # inches per panel
    finally:
        plt.close(fig)


def test_tokens_tell_configurations_and_lengths_apart():
    fca5 = closed_form_profile("fca", [64] * 4 + [37] * 8).assign(config_label="default")
    fca1 = closed_form_profile("fca", [64] * 4 + [33] * 8).assign(config_label="clusters=1")
    fca1_128 = closed_form_profile("fca", [128] * 4 + [65] * 8).assign(config_label="clusters=1")
    ax = plot_tokens([fca5, fca1, fca1_128])
    try:
        labels = legend_labels(ax.figure)
        assert labels == ["FCA (default, n = 64)", "FCA (clusters=1, n = 64)", "FCA (clusters=1, n = 128)"]
        lines = ax.get_lines()
        assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()  # a colour per length
        assert lines[0].get_linestyle() != lines[1].get_linestyle()  # a line style per configuration
    finally:
        plt.close(ax.figure)
    ax = plot_tokens([fca5, fca1], labels=["k = 5", "k = 1"])
    try:
        assert legend_labels(ax.figure) == ["k = 5", "k = 1"]
    finally:
        plt.close(ax.figure)
    with pytest.raises(FcabenchError, match="one --label per profile"):
        plot_tokens([fca5, fca1], labels=["only one"])
