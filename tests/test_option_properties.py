"""Generated option values for `profile`, `train` and `bench`: every command ends in exit 0, or in exit 2 with one
`error:` line, within a time limit; never a traceback, never a hang. `train` and `bench` are stopped where their
work would start (the options checked first is what is asserted), so no training or timing runs."""

import datetime
import importlib
import signal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import fcabench
from tests.helpers import cli

LIMIT_S = 60  # one case, checks and (for profile) the count itself


class WorkStarted(Exception):
    """The options passed every check: the command reached its work."""


def stop_work(*args, **kwargs):
    raise WorkStarted


NUMBERS = st.one_of(
    st.integers(-3, 600).map(str),
    st.sampled_from(["0", "-1", "1e1", "inf", "nan", "-inf", "", " ", "abc", "99999999999999999999", "2.5", "1e400"]),
)
LISTS = st.one_of(NUMBERS, st.lists(st.integers(-2, 300).map(str), min_size=1, max_size=3).map(",".join)).filter(
    lambda text: not text.startswith("-")  # a leading '-' reads as an option: the parser's own error, tested apart
) | st.sampled_from(["1,,2", ",", "16,", "1, 2"])
LENGTH_SPECS = st.sampled_from(
    ["uniform:16:64:5", "uniform:0:10:5", "uniform:16:128:1e1", "normal:1:2:3", "normal:32:8:4", "fixed:8:3", "bogus"]
)


def run_bounded(capsys, *args):
    """The command through ``main``, killed (a failed test) if it runs past ``LIMIT_S``."""

    def too_long(signum, frame):
        raise TimeoutError(f"fcabench {' '.join(map(str, args))} ran past {LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(LIMIT_S)
    try:
        return cli(capsys, *args)
    except WorkStarted:
        capsys.readouterr()
        return 0, "", ""
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


MEANINGLESS = {"", " ", ",", "1,,2", "16,", "1, ,2", "inf", "-inf", "nan", "1e400", "abc"}
HUGE = "99999999999999999999"  # a whole number no seed can be (seeds are 32-bit); absurd elsewhere, not meaningless


def meaningless(value: str) -> bool:
    """A value no option of these commands can mean: an empty item, not a finite number, or below 1."""
    parts = value.split(",")
    if value in MEANINGLESS or any(not p.strip() for p in parts):
        return True
    try:
        return any(float(p) < 1 for p in parts)
    except ValueError:
        return True


def assert_clean(code, out, err, refused: bool = False):
    """Exit 0, or exit 2 with one error line; never a traceback. ``refused``: the options cannot be meant, so 0
    is wrong too."""
    assert "Traceback" not in out + err, err
    if refused:
        assert code == 2, (code, out[-500:], err)
    if code == 0:
        return
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err


CASES = settings(
    max_examples=100,
    deadline=datetime.timedelta(seconds=LIMIT_S),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same cases on every run: a failure is reproducible
)


@CASES
@given(
    seq_len=LISTS,
    batch=st.sampled_from(["1", "2", "0", "-1", "abc", "100000000000", "1,,2"]),
    method=st.sampled_from(
        ["vanilla", "fca", "power-bert", "ltp", "token-drop", "tome", "truncate", "layer-drop", "x"]
    ),
    extra=st.sampled_from(
        [[], ["--clusters", "1000"], ["--ratios", ""], ["--keep-ratio", "1.5"], ["--k", "0"], ["--keep", "-3"]]
    ),
    lengths=st.none() | LENGTH_SPECS,
)
@example(seq_len="128", batch="100000000000", method="vanilla", extra=[], lengths=None)  # more than the memory
@example(seq_len="128", batch="1", method="fca", extra=["--clusters", "1000"], lengths=None)
@example(seq_len="128", batch="1", method="fca", extra=["--ratios", ""], lengths=None)
@example(seq_len="128", batch="1", method="vanilla", extra=[], lengths="uniform:0:10:5")
@example(seq_len="128", batch="1", method="vanilla", extra=[], lengths="normal:1:2:3")
@example(seq_len="128", batch="1", method="ltp", extra=[], lengths="uniform:16:128:1e1")  # once a hang
def test_profile_options(capsys, seq_len, batch, method, extra, lengths):
    args = ["profile", "-m", method, "-n", seq_len, "-b", batch, *extra]
    args += ["--lengths", lengths] if lengths else []
    refused = meaningless(seq_len) or meaningless(batch) or bool(extra) or method == "x"
    refused |= lengths in ("uniform:0:10:5", "normal:1:2:3", "bogus")
    assert_clean(*run_bounded(capsys, *args), refused=refused)


@pytest.fixture
def no_work(monkeypatch):
    training = importlib.import_module("fcabench.training.train")
    monkeypatch.setattr(training, "_train_stage", stop_work)
    monkeypatch.setattr(fcabench.tasks.Task, "load", stop_work)
    monkeypatch.setattr(fcabench.speed.bench, "build_models", stop_work)


@CASES
@given(
    option=st.sampled_from(
        ["--seq-len", "--epochs", "--max-steps", "--batch-size", "--lr", "--warmup-ratio", "--weight-decay", "--seed"]
        + ["--subset-seed", "--max-train-examples", "--macs-ratio"]
    ),
    value=NUMBERS.filter(lambda text: not text.startswith("-") or text[1:].isdigit()),
    stages=st.none() | st.sampled_from(["search,retrain", "retrain,search", "search,search", "bogus", ",", ""]),
)
@example(option="--epochs", value="inf", stages=None)
@example(option="--seed", value="99999999999999999999", stages=None)
@example(option="--lr", value="nan", stages=None)
@example(option="--seed", value="1", stages="retrain,search")
def test_train_options_are_checked_before_any_work(tmp_path_factory, capsys, no_work, option, value, stages):
    folder = tmp_path_factory.mktemp("train")
    args = ["train", "-t", "bbc-news", "-m", "fca", "-o", folder / "out", "--no-progress", option, value]
    args += ["--stages", stages] if stages is not None else []
    zero_is_fine = option in ("--seed", "--subset-seed", "--warmup-ratio", "--weight-decay")
    refused = meaningless(value) and not (zero_is_fine and value == "0")
    refused |= option in ("--seed", "--subset-seed") and value == HUGE
    refused |= option in ("--warmup-ratio", "--macs-ratio") and not refused and float(value) >= 1 and value != "1"
    refused |= stages in ("retrain,search", "search,search", "bogus", ",", "")
    assert_clean(*run_bounded(capsys, *args), refused=refused)


@CASES
@given(
    seq_len=LISTS,
    batch=LISTS,
    mode=st.sampled_from(["inference", "train", "inference,train", "both", "", "inference,,train"]),
    repeats=st.sampled_from(["1", "0", "-2", "abc"]),
    threads=st.sampled_from([[], ["--threads", "0"], ["--threads", "2"]]),
)
@example(seq_len="128", batch="1,,2", mode="inference", repeats="1", threads=[])  # once a hang
def test_bench_options_are_checked_before_any_timing(capsys, no_work, seq_len, batch, mode, repeats, threads):
    args = ["bench", "-n", seq_len, "-b", batch, "--mode", mode, "--repeats", repeats, "--no-store", *threads]
    refused = meaningless(seq_len) or meaningless(batch) or meaningless(repeats) or threads == ["--threads", "0"]
    refused |= mode in ("both", "", "inference,,train")
    assert_clean(*run_bounded(capsys, *args), refused=refused)
