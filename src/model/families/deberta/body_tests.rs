//! Tests of the DeBERTa body's relative-position helpers.

use super::*;

fn config(buckets: usize, max: usize) -> BodyConfig {
    BodyConfig {
        vocab_size: 1,
        hidden_size: 8,
        embedding_size: 8,
        num_layers: 0,
        num_heads: 2,
        head_size: 4,
        intermediate_size: 8,
        max_position_embeddings: max,
        type_vocab_size: 0,
        position_biased_input: false,
        layer_norm_eps: 1e-7,
        gelu_exact: true,
        relative_attention: true,
        max_relative_positions: max,
        position_buckets: buckets,
        share_att_key: true,
        c2p: true,
        p2c: true,
        norm_rel_ebd: true,
    }
}

/// Values of transformers' `make_log_bucket_position(δ, 256, 512)`.
#[test]
fn log_buckets_match_transformers() {
    let c = config(256, 512);
    for (delta, want) in [(0, 0), (5, 5), (-127, -127), (128, 128), (129, 129), (200, 169), (511, 255), (-300, -207)] {
        assert_eq!(c.bucket(delta), want, "δ = {delta}");
    }
    // Without buckets the position is its own row, clamped to the table.
    let plain = config(0, 4);
    assert_eq!(plain.relative_row(-10), 0);
    assert_eq!(plain.relative_row(1), 5);
    assert_eq!(plain.relative_row(10), 7);
}
