//! Estimated floating-point operations (2 per multiply-add) of one text, from a
//! checkpoint's `config.json`: every linear layer plus the attention products. The
//! benchmarks report GFLOP/s and share of peak with it; nothing in the server needs it.

use serde_json::Value;

fn field(config: &Value, keys: &[&str]) -> f64 {
    keys.iter().find_map(|k| config.get(*k).and_then(Value::as_u64)).unwrap_or(0) as f64
}

/// FLOPs of one text of `tokens` tokens through the model `config` describes.
pub fn flops(config: &Value, tokens: usize) -> f64 {
    let t = tokens as f64;
    let h = field(config, &["hidden_size", "dim"]);
    let i = field(config, &["intermediate_size", "hidden_dim"]);
    let layers = field(config, &["num_hidden_layers", "n_layers"]);
    match config.get("model_type").and_then(Value::as_str).unwrap_or("") {
        // Q/K/V/output and FFN products, content-to-content attention, and the c2p/p2c
        // terms (each `[t, t_rel] × h`, about as large as the content scores).
        "deberta-v2" => layers * (2.0 * t * (4.0 * h * h + 2.0 * h * i) + 8.0 * t * t * h),
        // Wqkv + Wo, GeGLU's Wi (2·i wide) + Wo; QKᵀ and PV over the keys each query
        // sees (the whole text in global layers, at most the window in local ones).
        "modernbert" => {
            let window = config.get("local_attention").and_then(Value::as_u64).unwrap_or(128) as f64;
            let every = config.get("global_attn_every_n_layers").and_then(Value::as_u64).unwrap_or(3).max(1) as f64;
            let global = 2.0 * t * (4.0 * h * h + 3.0 * h * i) + 4.0 * t * t * h;
            let local = 2.0 * t * (4.0 * h * h + 3.0 * h * i) + 4.0 * t * t.min(window + 1.0) * h;
            let globals = (layers / every).ceil();
            globals * global + (layers - globals) * local
        }
        // The BERT encoder (BERT, DistilBERT, RoBERTa, XLM-R, ELECTRA, ALBERT): ALBERT
        // and ELECTRA project a narrower embedding up to the hidden width first.
        _ => {
            let embedding = field(config, &["embedding_size"]);
            let projection = if embedding > 0.0 && embedding != h { 2.0 * t * embedding * h } else { 0.0 };
            layers * (2.0 * t * (4.0 * h * h + 2.0 * h * i) + 4.0 * t * t * h) + projection
        }
    }
}
