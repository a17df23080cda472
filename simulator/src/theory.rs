//! Closed forms of auction theory the simulator is checked against (independent
//! private values, `n` symmetric bidders, one slot, values uniform on `[low, high]`,
//! reserve `r`). By revenue equivalence, the second-price auction with truthful
//! bidders and the first-price auction with equilibrium (`bne`) bidders have the same
//! expected revenue.
//!
//! On `[0, 1]` with `ρ = r`: expected revenue `R(n, ρ) = 2n(1 − ρⁿ⁺¹)/(n + 1) − (1 − ρⁿ)`
//! (Myerson: `n ∫_ρ¹ (2v − 1) vⁿ⁻¹ dv`), which is `(n − 1)/(n + 1)` without a reserve.
//! On `[L, H]`, with `ρ = (max(r, L) − L)/(H − L)`, a sale happens with probability
//! `1 − ρⁿ` and its price is `L` plus `(H − L)` times the normalised price, so the
//! revenue is `L·(1 − ρⁿ) + (H − L)·R(n, ρ)`.

/// Expected revenue per auction of the second-price auction with truthful bidders
/// (equivalently, of the first-price auction with `bne` bidders).
///
/// # Example
/// ```
/// let r = attn_simulator::theory::expected_revenue_uniform(3, 0.0, 1.0, 0.0);
/// assert!((r - 0.5).abs() < 1e-12); // (n − 1)/(n + 1)
/// ```
pub fn expected_revenue_uniform(n: u32, low: f64, high: f64, reserve: f64) -> f64 {
    let width = high - low;
    let rho = if width > 0.0 {
        ((reserve.max(low) - low) / width).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let n_f = f64::from(n);
    let rho_n = rho.powi(n as i32);
    let normalised = 2.0 * n_f * (1.0 - rho.powi(n as i32 + 1)) / (n_f + 1.0) - (1.0 - rho_n);
    low * (1.0 - rho_n) + width * normalised
}

/// Expected welfare per auction of an efficient one-slot auction with reserve `r`:
/// the expected highest value when it is at least `max(r, low)`.
pub fn expected_welfare_uniform(n: u32, low: f64, high: f64, reserve: f64) -> f64 {
    let width = high - low;
    let rho = if width > 0.0 {
        ((reserve.max(low) - low) / width).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let n_f = f64::from(n);
    // E[max · 1{max ≥ ρ}] on [0, 1] = n/(n + 1) (1 − ρⁿ⁺¹).
    let normalised = n_f / (n_f + 1.0) * (1.0 - rho.powi(n as i32 + 1));
    low * (1.0 - rho.powi(n as i32)) + width * normalised
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms_agree_with_known_values() {
        assert!((expected_revenue_uniform(2, 0.0, 1.0, 0.0) - 1.0 / 3.0).abs() < 1e-12);
        // One bidder, reserve ½: price ½ with probability ½.
        assert!((expected_revenue_uniform(1, 0.0, 1.0, 0.5) - 0.25).abs() < 1e-12);
        // Two bidders, optimal reserve ½: 5/12.
        assert!((expected_revenue_uniform(2, 0.0, 1.0, 0.5) - 5.0 / 12.0).abs() < 1e-12);
        // Affine in the support.
        let scaled = expected_revenue_uniform(3, 2.0, 4.0, 0.0);
        assert!((scaled - (2.0 + 2.0 * 0.5)).abs() < 1e-12);
        assert!((expected_welfare_uniform(2, 0.0, 1.0, 0.0) - 2.0 / 3.0).abs() < 1e-12);
    }
}
