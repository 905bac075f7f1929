"""Regenerates the polynomial coefficients in csrc/activations_avx2.c (a developer tool: needs
SciPy for erfcx; the library and its tests do not).

    python tools/fit_act_polys.py

Each polynomial is a weighted minimax fit (Lawson's iteratively reweighted least squares on
Chebyshev nodes) with the coefficients rounded to float32 one at a time, lowest degree first,
refitting the rest after each rounding so the later ones absorb the earlier rounding errors.
The printed 'max ulp' is the float32 Horner evaluation against float64 on a dense grid."""
import math

import numpy as np
from scipy.special import erfcx

f32 = np.float32


def cheb(lo, hi, n=4000):
    k = np.arange(n)
    return (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (k + 0.5) / n)


def lawson(B, target, weight, iters=150):
    """c minimising max |weight * (B @ c - target)|."""
    w = np.full(len(target), 1.0 / len(target))
    for _ in range(iters):
        sw = np.sqrt(w) * weight
        c, *_ = np.linalg.lstsq(B * sw[:, None], target * sw, rcond=None)
        e = np.abs(weight * (B @ c - target))
        w = w * e
        w /= w.sum()
    return c


def seqfit(t, target, weight, powers):
    """float32 coefficients for sum c_i t^powers[i], rounded one at a time."""
    fixed = []
    for k in range(len(powers)):
        rest = target - sum(c * t ** p for c, p in zip(fixed, powers))
        B = np.stack([t ** p for p in powers[k:]], axis=1)
        fixed.append(float(f32(lawson(B, rest, weight)[0])))
    return fixed


def horner32(c, t):
    """float32 Horner with a fused multiply-add per step."""
    acc = np.full(t.shape, f32(c[-1]))
    for ci in c[-2::-1]:
        acc = (acc.astype(np.float64) * t.astype(np.float64) + float(f32(ci))).astype(f32)
    return acc


def ulps(got, ref):
    return np.abs(got.astype(np.float64) - ref) / np.spacing(np.abs(ref).astype(f32))


def fmt(c):
    return ", ".join(f"{v:.9g}f" for v in c)


# e^r = 1 + r + r^2 Q(r) on |r| <= ln2/2, Q of degree 4: relative error of e^r, weight r^2/e^r
r = cheb(-math.log(2) / 2, math.log(2) / 2)
q = seqfit(r, (np.expm1(r) - r) / r ** 2, r ** 2 / np.exp(r), [0, 1, 2, 3, 4])
print("EXP_Q (c0..c4):", fmt(q))

# log(1+f) = f - s (f - T(s^2)), s = f / (2 + f), f in [-1/4, 1/2): s in [-1/7, 1/5];
# T(w) = (2 atanh(s) - 2 s) / s.  An error dT moves log(1+f) ~ 2s by s dT: weight 1/2.
w = cheb(1e-12, 0.04)
s = np.sqrt(w)
tc = seqfit(w, (2 * np.arctanh(s) - 2 * s) / s, np.full_like(w, 0.5), [1, 2, 3])
print("LOG1P_T (w^1..w^3):", fmt(tc))

# Mills ratio over sqrt(2 pi): M(a) = Phi(-a) / (sqrt(2 pi) phi(a)) = erfcx(a / sqrt 2) / 2
# on a in [0, 16] (the 1/sqrt(2 pi) folded in saves gelu a rounding),
# piecewise on the intervals that the exponent and top mantissa bit of a + 2 select:
# [0,1) [1,2) [2,4) [4,6) [6,10) [10,14) [14,22); degree 8 in t = a - centre.
M = lambda a: 0.5 * erfcx(a / math.sqrt(2))  # noqa: E731
edges = [0, 1, 2, 4, 6, 10, 14, 22]
cents, table, worst = [], [], 0.0
for lo, hi in zip(edges[:-1], edges[1:]):
    cen = float(f32((lo + hi) / 2))
    a = cheb(lo, hi)
    c = seqfit(a - cen, M(a), 1 / M(a), list(range(9)))
    aa = np.linspace(lo, min(hi, 16), 20001).astype(f32)
    worst = max(worst, ulps(horner32(c, (aa - f32(cen)).astype(f32)), M(aa.astype(float))).max())
    cents.append(cen)
    table.append(c)
print(f"GELU_M: max ulp {worst:.2f}")
print("centres:", fmt(cents + [0.0]))
for k in range(9):
    print(f"c{k}:", fmt([row[k] for row in table] + [0.0]))
