"""TinyGPT, lm_loss and generate (minprune/models.py), the shipped TinyGPT weights, and layer dropping on a
transformer (minprune/prune/layers.py with TransformerBlocks).

Values are checked against computations written here (the embedding sum, cross-entropy from log-softmax by hand,
the blocks applied one by one); causality by perturbing a later token.
"""
import copy

import numpy as np
import pytest

import minprune as mp
from minprune import data, models, nn, optim
from minprune.prune import block_importance, depth_prune

from helpers import gradcheck

SMALL = {"vocab_size": 11, "d_model": 8, "n_heads": 2, "n_layers": 2, "context": 6}


def small_gpt(seed=0, **overrides):
    return models.TinyGPT(**{**SMALL, **overrides}, rng=np.random.default_rng(seed)).eval()


def tokens(shape, seed=0, vocab=SMALL["vocab_size"]):
    return np.random.default_rng(seed).integers(0, vocab, shape)


# ---------------------------------------------------------------------------------------------- model
def test_shapes_and_pytorch_style_names():
    model = small_gpt()
    assert model(tokens((3, 6))).shape == (3, 6, 11)
    assert model(tokens((2, 1))).shape == (2, 1, 11)                               # shorter than the context
    names = set(dict(model.named_parameters()))
    assert {"tok_emb.weight", "pos_emb.weight", "blocks.0.ln1.weight", "blocks.0.attn.in_proj_weight",
            "blocks.0.attn.in_proj_bias", "blocks.0.attn.out_proj.weight", "blocks.1.mlp.fc1.weight",
            "blocks.1.mlp.fc2.bias", "ln_f.weight", "head.weight"} <= names
    assert model.blocks[0].attn.in_proj_weight.shape == (24, 8)


def test_forward_is_embeddings_then_blocks_then_head():
    model = small_gpt().double()
    ids = tokens((2, 5))
    x = mp.tensor(model.tok_emb.weight.data[ids] + model.pos_emb.weight.data[np.arange(5)])
    for block in model.blocks:
        x = block(x)
    expected = model.head(model.ln_f(x)).data
    np.testing.assert_allclose(model(ids).data, expected, atol=1e-12)


@pytest.mark.parametrize("ids, error", [(tokens((2, 7)), "L <= 6"), (tokens((6,)), "\\(N, L\\)"),
                                        (np.array([[0, 11]]), "ids")])
def test_bad_token_ids_raise(ids, error):
    with pytest.raises(ValueError, match=error):
        small_gpt()(ids)


def test_causal_a_later_token_does_not_change_earlier_logits():
    model = small_gpt()
    ids = tokens((2, 6))
    base = model(ids).data
    for t in range(6):
        changed = ids.copy()
        changed[:, t] = (changed[:, t] + 1) % 11
        out = model(changed).data
        np.testing.assert_array_equal(out[:, :t], base[:, :t])
        assert np.abs(out[:, t:] - base[:, t:]).max() > 1e-4


def test_gradients_by_finite_differences():
    model = small_gpt(n_layers=1, d_model=4, context=3, vocab_size=5).double().eval()
    ids, targets = tokens((2, 3), vocab=5), tokens((2, 3), seed=1, vocab=5)
    block = model.blocks[0]
    gradcheck(lambda: models.lm_loss(model(ids), targets), wrt=[model.tok_emb.weight, model.pos_emb.weight,
                                                                  block.attn.in_proj_weight, block.ln2.bias,
                                                                  model.head.weight])


def test_lm_loss_is_mean_next_token_cross_entropy():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 3, 5))
    targets = rng.integers(0, 5, (2, 3))
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_p, targets[..., None], -1)[..., 0]
    assert models.lm_loss(mp.tensor(logits), targets).item() == pytest.approx(-picked.mean(), abs=1e-12)
    assert models.lm_loss(mp.tensor(logits), targets, reduction="sum").item() == pytest.approx(-picked.sum(),
                                                                                              abs=1e-12)


def test_a_few_steps_of_training_learn_a_repeating_sequence():
    model = small_gpt(seed=1).train()
    sequence = np.tile(np.arange(5), 8)
    x = np.stack([sequence[s:s + 6] for s in range(5)])
    y = np.stack([sequence[s + 1:s + 7] for s in range(5)])
    opt = optim.AdamW(model.parameters(), lr=1e-2)
    first = models.lm_loss(model(x), y).item()
    for _ in range(60):
        loss = models.lm_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 2.0 and loss.item() < 0.2, (first, loss.item())


# ---------------------------------------------------------------------------------------------- generate
def test_generate_is_deterministic_from_rng_and_keeps_the_prompt():
    model = small_gpt()
    prompt = np.array([1, 2, 3])
    one = models.generate(model, prompt, 10, rng=np.random.default_rng(5))
    two = models.generate(model, prompt, 10, rng=np.random.default_rng(5))
    other = models.generate(model, prompt, 10, rng=np.random.default_rng(6))
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, other)
    assert len(one) == 13 and np.array_equal(one[:3], prompt) and one.min() >= 0 and one.max() < 11


def test_generate_crops_to_the_context_and_restores_the_mode():
    model = small_gpt().train()
    out = models.generate(model, [0], 12, rng=np.random.default_rng(0))       # 13 tokens > context 6
    assert len(out) == 13 and model.training


def test_generate_low_temperature_is_greedy():
    model = small_gpt()
    out = models.generate(model, [4], 5, temperature=1e-4, rng=np.random.default_rng(0))
    ids = [4]
    for _ in range(5):
        ids.append(int(np.argmax(model(np.array([ids[-6:]])).data[0, -1])))
    np.testing.assert_array_equal(out, ids)
    with pytest.raises(ValueError, match="temperature"):
        models.generate(model, [4], 5, temperature=0)


# ---------------------------------------------------------------------------------------------- shipped weights
def test_shipped_tinygpt_beats_the_unigram_baseline():
    model = models.pretrained("tinygpt")
    text = data.tiny_shakespeare()
    tokenizer = data.CharTokenizer(text)
    train_ids = tokenizer.encode(data.tiny_shakespeare("train"))
    val_ids = tokenizer.encode(data.tiny_shakespeare("val"))
    counts = np.bincount(train_ids, minlength=tokenizer.vocab_size) / len(train_ids)
    unigram = -(counts[counts > 0] * np.log(counts[counts > 0])).sum()          # ≈ 3.3 nats
    x, y = data.get_batch(val_ids, 16, model.context, np.random.default_rng(0))
    with mp.no_grad():
        val = models.lm_loss(model(x), y).item()
    assert val < unigram - 0.6, (val, unigram)


# ---------------------------------------------------------------------------------------------- layer dropping
def test_block_importance_works_on_sequence_logits():
    model = small_gpt()
    x, y = tokens((4, 6)), tokens((4, 6), seed=1)
    scores = block_importance(model, (x, y))
    assert sorted(scores) == ["blocks.0", "blocks.1"]
    base = (model(x).data.argmax(-1) == y).mean()                               # next-token accuracy, per token
    without = copy.deepcopy(model)
    without.blocks._modules["1"] = nn.Identity()
    dropped = without(x).data
    assert scores["blocks.1"]["accuracy_drop"] == pytest.approx(base - (dropped.argmax(-1) == y).mean())
    logits = model(x).data
    assert scores["blocks.1"]["output_change"] == pytest.approx(
        np.linalg.norm(dropped - logits) / np.linalg.norm(logits), rel=1e-6)


def test_depth_prune_drops_the_block_of_smallest_angular_distance():
    model = small_gpt()
    x, y = tokens((4, 6)), tokens((4, 6), seed=1)
    scores = block_importance(model, (x, y))
    least = min(scores, key=lambda name: scores[name]["angular"])
    pruned, report = depth_prune(model, (x, y), 1, criterion="angular")
    assert report["dropped"] == [least]
    assert len([b for b in pruned.blocks if isinstance(b, nn.TransformerBlock)]) == 1
    assert len([b for b in model.blocks if isinstance(b, nn.TransformerBlock)]) == 2   # original untouched
    assert pruned(x).shape == (4, 6, 11)
