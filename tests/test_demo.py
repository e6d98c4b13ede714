"""The demo (``python -m minprune demo``) end to end in a tiny setting: it trains, prunes both ways, prints both
reports, and writes every plot and the reports into the folder it is given; ``--help`` lists its options."""
import json

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from minprune import __main__ as cli  # noqa: E402
from minprune import demo  # noqa: E402

TINY = ["--samples", "256", "--test-samples", "128", "--epochs", "1", "--finetune-epochs", "1", "--steps", "2",
        "--repeats", "2", "--batch-size", "32", "--no-progress", "--seed", "3"]
PLOTS = ["weights_histogram", "fc1_mask_unstructured", "fc2_mask_structured", "layer_sparsity",
         "sparsity_vs_accuracy", "schedule", "sensitivity", "latency_vs_sparsity"]


def test_demo_end_to_end_tiny(tmp_path, capsys):
    out = tmp_path / "demo"
    assert demo.main(TINY + ["--out", str(out)]) == 0
    text = capsys.readouterr().out
    for needle in ("1. baseline", "unstructured epoch 2/2: weight sparsity 90.0 %", "structured epoch 2/2",
                   "compacted: fc1 300→90",
                   "size CSR", "size bitmask", "size compacted", "MACs, non-zero weights", "latency", "speedup",
                   "batch of 32", "pt"):
        assert needle in text
    for name in PLOTS:
        assert (out / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    reports = json.loads((out / "report.json").read_text())
    assert reports["unstructured"]["pruned"]["sparsity"] == pytest.approx(0.9)
    assert reports["structured"]["pruned"]["parameters"]["total"] == 784 * 90 + 90 + 90 * 30 + 30 + 30 * 10 + 10
    assert "Pruning report" in (out / "report.txt").read_text()


def test_demo_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        demo.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--sparsity", "--epochs", "--out", "--seed", "--samples", "--pretrained"):
        assert option in text


def test_demo_is_reached_through_the_command_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--", "--help"])
    assert exit_info.value.code == 0
    assert "--sparsity" in capsys.readouterr().out


def test_demo_rejects_bad_options(capsys):
    for argv, message in ((["--sparsity", "1.5"], "--sparsity must be in [0, 1)"),
                          (["--finetune-epochs", "0"], "--finetune-epochs must be >= 1"),
                          (["--schedule", "polynomial", "--steps", "1"], "needs --steps >= 2")):
        with pytest.raises(SystemExit) as exit_info:
            demo.main(argv)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


def test_demo_schedules():
    """Steps: the seed's staircase, one level per phase; polynomial: 0 → final over all phases but the last.
    Both start at step 1, so each pruning lands after the end-of-epoch evaluation."""
    args = demo.build_parser().parse_args(["--steps", "3", "--finetune-epochs", "2"])
    steps = demo.make_schedule(0.9, args, steps_per_epoch=10)
    assert [steps(t) for t in (0, 1, 21, 41, 60)] == [(False, 0.0), (True, 0.3), (True, 0.6), (True, 0.9),
                                                       (False, 0.9)]
    args = demo.build_parser().parse_args(["--steps", "3", "--schedule", "polynomial"])
    poly = demo.make_schedule(0.9, args, steps_per_epoch=100)
    assert poly(1) == (True, 0.0) and poly(21) == (True, pytest.approx(0.9 - 0.9 * 0.9 ** 3, abs=1e-6))
    assert poly(201)[1] == pytest.approx(0.9) and poly.end_step == 201
