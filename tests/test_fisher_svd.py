"""Fisher-neutralised weighted SVD: hand-computed cases, the loop reference, and SVD optimality."""

import math

import pytest
import torch
from torch import nn

from fairlib.methods.fisher_svd import (
    FactorizedLinear,
    group_fisher_diagonal,
    group_fisher_diagonal_loop,
    neutralize,
    replace_last_linear,
    row_importance,
    svd_factors,
    weighted_svd_factors,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def linear(weight, bias):
    layer = nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight, dtype=torch.float32))
        layer.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return layer


def synthetic(n=600, d=20, k=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    layer = nn.Linear(d, k)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(k, d, generator=gen))
        layer.bias.copy_(torch.randn(k, generator=gen))
    x = torch.randn(n, d, generator=gen)
    y = torch.randint(0, k, (n,), generator=gen)
    s = torch.randint(0, 2, (n,), generator=gen)
    return layer, x, y, s


# ------------------------------------------------------------------------------------------ Fisher


def test_one_sample_fisher_is_the_square_of_softmax_minus_onehot_outer_x():
    # logits = W x + b = (1, 1) -> softmax (1/2, 1/2); true label 1 -> dCE/dlogits = (1/2, -1/2)
    layer = linear([[0.5, 0.25], [0.0, 0.5]], [0.0, 0.0])
    x, y, s = torch.tensor([[1.0, 2.0]]), torch.tensor([1]), torch.tensor([0])
    expected_w = torch.tensor([[0.5 * 1.0, 0.5 * 2.0], [-0.5 * 1.0, -0.5 * 2.0]]).double().square()
    expected_b = torch.tensor([0.25, 0.25]).double()
    for fn in (group_fisher_diagonal, group_fisher_diagonal_loop):
        fw, fb = fn(layer, x, y, groups=s, include_bias=True)
        assert fw.shape == (1, 2, 2) and fb.shape == (1, 2)
        torch.testing.assert_close(fw[0], expected_w, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(fb[0], expected_b, rtol=1e-12, atol=1e-12)


def test_general_one_sample_fisher_matches_the_closed_form():
    layer, x, y, _ = synthetic(n=1, d=5, k=3, seed=3)
    w = layer.weight.detach().double()
    p = torch.softmax(x.double() @ w.T + layer.bias.detach().double(), dim=1)[0]
    g = p - nn.functional.one_hot(y, 3)[0].double()
    fw = group_fisher_diagonal(layer, x, y, groups=torch.zeros(1, dtype=torch.long))[0]
    torch.testing.assert_close(fw, torch.outer(g, x[0].double()).square(), rtol=1e-12, atol=1e-15)


def test_vectorised_fisher_matches_the_per_sample_loop_in_every_group():
    layer, x, y, s = synthetic(n=600)
    # a small batch_size forces several chunks, and a group split across them
    fast_w, fast_b = group_fisher_diagonal(layer, x, y, groups=s, batch_size=128, include_bias=True)
    slow_w, slow_b = group_fisher_diagonal_loop(layer, x, y, groups=s, include_bias=True)
    assert fast_w.shape == (2, 2, 20)
    assert ((fast_w - slow_w).abs() / slow_w.abs()).max() < 1e-6
    assert ((fast_b - slow_b).abs() / slow_b.abs()).max() < 1e-6
    # the groups really are estimated separately
    assert not torch.allclose(fast_w[0], fast_w[1], rtol=1e-3)


def test_fisher_is_the_mean_within_each_group_not_the_sum():
    layer, x, y, _ = synthetic(n=50)
    one = group_fisher_diagonal(layer, x, y, groups=torch.zeros(50, dtype=torch.long))
    doubled = group_fisher_diagonal(layer, torch.cat([x, x]), torch.cat([y, y]),
                                    groups=torch.zeros(100, dtype=torch.long))
    torch.testing.assert_close(one, doubled, rtol=1e-12, atol=0.0)


def test_float32_computation_is_also_close_to_the_loop():
    layer, x, y, s = synthetic(n=300)
    fast = group_fisher_diagonal(layer, x, y, groups=s, dtype=None)
    assert fast.dtype == torch.float32
    slow = group_fisher_diagonal_loop(layer, x, y, groups=s)
    assert ((fast.double() - slow).abs() / slow).max() < 1e-4


def test_a_group_without_samples_is_named_in_the_error():
    layer, x, y, _ = synthetic(n=20)
    s = torch.tensor([0, 2] * 10)
    with pytest.raises(ValueError, match="group 1 has no samples"):
        group_fisher_diagonal(layer, x, y, groups=s)
    with pytest.raises(ValueError, match="group 3 has no samples"):
        group_fisher_diagonal_loop(layer, x, y, groups=torch.tensor([0, 1, 2] * 6 + [0, 1]), num_groups=4)


def test_bad_inputs_raise():
    layer, x, y, s = synthetic(n=20)
    with pytest.raises(ValueError, match="labels"):
        group_fisher_diagonal(layer, x, y + 5, groups=s)
    with pytest.raises(ValueError, match="same length"):
        group_fisher_diagonal(layer, x, y[:-1], groups=s)
    with pytest.raises(ValueError, match="out of range"):
        group_fisher_diagonal(layer, x, y, groups=s, num_groups=1)
    with pytest.raises(ValueError, match="shape"):
        group_fisher_diagonal(layer, x[:, :5], y, groups=s)


# -------------------------------------------------------------------------------- importance


def test_row_importance_sums_over_outputs_per_input_unit_then_square_roots():
    # torch layout (out=2, in=3); input unit i gets sqrt(F[0, i] + F[1, i])
    fisher = torch.tensor([[[1.0, 0.0, 2.0], [3.0, 4.0, 2.0]],
                           [[0.0, 9.0, 0.5], [0.0, 0.0, 0.5]]])
    expected = torch.tensor([[2.0, 2.0, 2.0], [0.0, 3.0, 1.0]])
    torch.testing.assert_close(row_importance(fisher), expected)
    torch.testing.assert_close(row_importance(fisher[1]), expected[1])
    with pytest.raises(ValueError, match="negative"):
        row_importance(-fisher)


def test_row_importance_of_the_one_sample_case():
    layer = linear([[0.5, 0.25], [0.0, 0.5]], [0.0, 0.0])
    fisher = group_fisher_diagonal(layer, torch.tensor([[1.0, 2.0]]), torch.tensor([1]), groups=torch.tensor([0]))
    torch.testing.assert_close(row_importance(fisher)[0], torch.tensor([math.sqrt(0.5), math.sqrt(2.0)]).double())


def test_neutralize_hand_values_and_rules():
    imp = torch.tensor([[1.0, 4.0], [3.0, 0.0]])
    torch.testing.assert_close(neutralize(imp), torch.tensor([2.0, 2.0]))
    torch.testing.assert_close(neutralize(imp, alpha=0.75), torch.tensor([1.5, 3.0]))
    torch.testing.assert_close(neutralize(imp, alpha=1.0), imp[0])
    torch.testing.assert_close(neutralize(imp, alpha=0.0), imp[1])
    three = torch.tensor([[3.0, 0.0], [0.0, 3.0], [3.0, 3.0]])
    torch.testing.assert_close(neutralize(three), torch.tensor([2.0, 2.0]))
    for bad in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match="alpha"):
            neutralize(imp, alpha=bad)
    with pytest.raises(ValueError, match="exactly two groups"):
        neutralize(three, alpha=0.7)
    with pytest.raises(ValueError, match="at least two groups"):
        neutralize(imp[:1])


# ---------------------------------------------------------------------------------------- SVD


def random_weight(d=20, k=6, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(d, k, generator=gen, dtype=torch.float64)


def random_importance(d=20, seed=2):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(d, generator=gen, dtype=torch.float64) * 5 + 0.05


def test_factor_shapes():
    w, imp = random_weight(), random_importance()
    for a, b in (svd_factors(w, rank=3), weighted_svd_factors(w, imp, rank=3)):
        assert a.shape == (20, 3) and b.shape == (3, 6)


def test_full_rank_reconstructs_the_weight_exactly():
    w, imp = random_weight(), random_importance()
    for a, b in (svd_factors(w, rank=6), weighted_svd_factors(w, imp, rank=6)):
        torch.testing.assert_close(a @ b, w, rtol=0, atol=1e-12)


def test_zero_importance_is_clamped_and_full_rank_still_reconstructs():
    w, imp = random_weight(), random_importance()
    imp[[0, 5]] = 0.0
    a, b = weighted_svd_factors(w, imp, rank=6)
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a @ b, w, rtol=0, atol=1e-8)
    # all-zero importance carries no weighting: the plain SVD
    a0, b0 = weighted_svd_factors(w, torch.zeros(20, dtype=torch.float64), rank=3)
    a1, b1 = svd_factors(w, rank=3)
    torch.testing.assert_close(a0 @ b0, a1 @ b1)


def test_plain_svd_error_is_the_eckart_young_bound():
    w = random_weight()
    s = torch.linalg.svdvals(w)
    for rank in (1, 3, 5):
        a, b = svd_factors(w, rank=rank)
        err = torch.linalg.matrix_norm(w - a @ b)
        torch.testing.assert_close(err, s[rank:].square().sum().sqrt(), rtol=1e-10, atol=1e-12)
        # and no other rank-r factorisation tested does better, e.g. the weighted one
        a2, b2 = weighted_svd_factors(w, random_importance(), rank=rank)
        assert torch.linalg.matrix_norm(w - a2 @ b2) > err


def test_weighted_svd_minimises_the_importance_weighted_error():
    w, imp = random_weight(), random_importance()
    weighted_s = torch.linalg.svdvals(imp[:, None] * w)
    for rank in (1, 3, 5):
        a, b = weighted_svd_factors(w, imp, rank=rank)
        ap, bp = svd_factors(w, rank=rank)
        err = torch.linalg.matrix_norm(imp[:, None] * (w - a @ b))
        err_plain = torch.linalg.matrix_norm(imp[:, None] * (w - ap @ bp))
        torch.testing.assert_close(err, weighted_s[rank:].square().sum().sqrt(), rtol=1e-10, atol=1e-12)
        assert err < err_plain


def test_weighted_svd_is_invariant_to_the_scale_of_the_importance():
    w, imp = random_weight(), random_importance()
    a, b = weighted_svd_factors(w, imp, rank=2)
    a2, b2 = weighted_svd_factors(w, 1000.0 * imp, rank=2)
    torch.testing.assert_close(a @ b, a2 @ b2)


def test_uniform_importance_gives_the_plain_svd():
    w = random_weight()
    a, b = weighted_svd_factors(w, torch.full((20,), 3.0, dtype=torch.float64), rank=2)
    ap, bp = svd_factors(w, rank=2)
    torch.testing.assert_close(a @ b, ap @ bp)


def test_svd_argument_checks():
    w, imp = random_weight(), random_importance()
    for bad in (0, 7, 2.0):
        with pytest.raises(ValueError, match="rank"):
            svd_factors(w, rank=bad)
        with pytest.raises(ValueError, match="rank"):
            weighted_svd_factors(w, imp, rank=bad)
    with pytest.raises(ValueError, match="shape"):
        weighted_svd_factors(w, imp[:5], rank=2)
    with pytest.raises(ValueError, match="non-negative"):
        weighted_svd_factors(w, -imp, rank=2)


# ------------------------------------------------------------------------------ FactorizedLinear


@pytest.mark.parametrize("weighted", [False, True])
def test_factorized_linear_at_full_rank_equals_the_linear_layer(weighted):
    layer, x, y, s = synthetic(n=64)
    importance = None
    if weighted:
        importance = neutralize(row_importance(group_fisher_diagonal(layer, x, y, groups=s)))
    fact = FactorizedLinear.from_linear(layer, rank=2, importance=importance)
    torch.testing.assert_close(fact(x), layer(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fact.merged_weight(), layer.weight, rtol=1e-5, atol=1e-5)
    assert fact.A.dtype == layer.weight.dtype


def test_factorized_linear_has_the_papers_46_parameters_for_the_adult_head():
    fact = FactorizedLinear.from_linear(nn.Linear(20, 2), rank=2)
    assert {name: tuple(p.shape) for name, p in fact.named_parameters()} == {
        "A": (20, 2), "B": (2, 2), "bias": (2,)}
    assert sum(p.numel() for p in fact.parameters() if p.requires_grad) == 46


def test_factorized_linear_at_low_rank_is_the_truncated_product():
    layer = nn.Linear(10, 6)
    fact = FactorizedLinear.from_linear(layer, rank=2)
    a, b = svd_factors(layer.weight.detach().T, rank=2)
    x = torch.randn(7, 10)
    torch.testing.assert_close(fact(x), x @ a @ b + layer.bias, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(fact(x), layer(x), atol=1e-3)


def test_replace_last_linear_swaps_the_head_in_place():
    model = nn.Sequential()
    model.add_module("body", nn.Sequential(nn.Linear(4, 20), nn.ReLU()))
    model.add_module("head", nn.Linear(20, 2))
    x = torch.randn(5, 4)
    before = model(x)
    new = replace_last_linear(model, "head", rank=2, importance=torch.rand(20) + 0.1)
    assert model.head is new and isinstance(new, FactorizedLinear)
    torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-5)
    outer = nn.Module()
    outer.inner = model
    replace_last_linear(outer, "inner.body.0", rank=4)
    assert isinstance(model.body[0], FactorizedLinear)
