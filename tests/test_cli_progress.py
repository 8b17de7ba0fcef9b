"""The progress helper other commands reuse: it yields every item, in order, and draws nothing off a terminal."""

from fcabench.progress import progress_bar, track


def test_track_yields_every_item_and_prints_nothing_when_captured(capsys):
    assert list(track(range(5), "counting")) == [0, 1, 2, 3, 4]
    assert list(track(iter("abc"), "letters", enabled=False)) == ["a", "b", "c"]  # no len(): total unknown
    with progress_bar("steps", total=3) as advance:
        for _ in range(3):
            advance()
        advance(0)
    out, err = capsys.readouterr()
    assert out == "" and err == ""  # stderr is not a terminal here: no bar in logs or pipes
