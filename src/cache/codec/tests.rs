//! The stored key and value formats: round trips, corruption, key separation.

use super::*;
use crate::model::TextInput;

fn prediction(logits: &[f32], truncated: bool) -> Prediction {
    Prediction { logits: Logits::from(logits), truncated }
}

#[test]
fn round_trips_and_rejects_every_corruption() {
    for truncated in [false, true] {
        let bytes = encode(&prediction(&[1.5, -2.25, 0.0], truncated), 0);
        assert_eq!(decode(&bytes, now_ms()).unwrap(), prediction(&[1.5, -2.25, 0.0], truncated));
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x40;
            assert_eq!(decode(&flipped, 0), Err(DecodeError::Corrupt), "byte {i} flipped");
        }
        for len in 0..bytes.len() {
            assert_eq!(decode(&bytes[..len], 0), Err(DecodeError::Corrupt), "truncated to {len}");
        }
    }
}

#[test]
fn base64url_matches_rfc_4648() {
    // RFC 4648 §10 vectors, in the URL-safe alphabet, without padding.
    assert_eq!(base64url(b"foo"), "Zm9v");
    assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64url(&[0xfb, 0xff, 0xbf]), "-_-_");
    assert_eq!(base64url(&[0; 16]).len(), 22);
}

#[test]
fn a_two_label_value_is_18_bytes_and_12_compact() {
    let value = encode(&prediction(&[1.0, -1.0], false), 0);
    assert_eq!(value.len(), 18);
    assert_eq!(compact(&value).unwrap().len(), 12);
}

#[test]
fn compact_values_round_trip_with_the_stores_expiry_and_reject_corruption() {
    for truncated in [false, true] {
        let value = encode(&prediction(&[1.5, -2.25, 0.0], truncated), 7_000);
        let small = compact(&value).unwrap();
        assert_eq!(from_compact(&small, 7_000).unwrap(), value);
        assert_eq!(
            decode(&from_compact(&small, 0).unwrap(), 8_000).unwrap(),
            prediction(&[1.5, -2.25, 0.0], truncated)
        );
        for i in 0..small.len() {
            let mut flipped = small.clone();
            flipped[i] ^= 0x40;
            assert_eq!(from_compact(&flipped, 0), None, "byte {i} flipped");
        }
        for len in 0..small.len() {
            assert_eq!(from_compact(&small[..len], 0), None, "truncated to {len}");
        }
    }
    assert_eq!(compact(b"not a value"), None);
}

#[test]
fn stored_keys_decode_to_their_bytes() {
    let key = CacheKey { model: "m".into(), identity: "f".into(), num_labels: 2, input: TextInput::single("t").into() };
    let stored = stored_key(&key, "g0.0");
    let bytes = key_bytes(&stored).unwrap();
    assert_eq!(base64url(&bytes), stored);
    assert_eq!(bytes[..3], model_tag_bytes("m"));
    assert_eq!(key_bytes("too short"), None);
    assert_eq!(key_bytes("AAAAAAAAAAAAAAAAAAAAA*"), None);
    assert_eq!(key_bytes("AAAAAAAAAAAAAAAAAAAAAB"), None, "unused bits set");
}

#[test]
fn text_keys_are_those_format_4_wrote_and_token_keys_are_apart() {
    use crate::cache::key::TokenDigest;
    let text =
        CacheKey { model: "m".into(), identity: "f".into(), num_labels: 2, input: TextInput::single("t").into() };
    // sha256(4 ‖ len‖"m" ‖ len‖"g0.0" ‖ len‖"f" ‖ len‖"t" ‖ 0), computed outside Rust.
    assert_eq!(stored_key(&text, "g0.0"), "aMQGo4tfMYSTDRz_NqyDlw");
    let tokens = text.for_tokens(TokenDigest::of(&[101, 102], &[0, 0]));
    let stored = stored_key(&tokens, "g0.0");
    assert!(stored.starts_with(&model_prefix("m")), "per-model clears reach token keys");
    assert_ne!(stored, stored_key(&text, "g0.0"));
    assert_ne!(stored, stored_key(&tokens, "g1.0"), "a clear's new generation reaches token keys");
    assert_ne!(stored, stored_key(&text.for_tokens(TokenDigest::of(&[101, 7, 102], &[0, 0, 0])), "g0.0"));
}

#[test]
fn expiry_is_checked() {
    let bytes = encode(&prediction(&[1.0], false), 1_000);
    assert!(decode(&bytes, 999).is_ok());
    assert_eq!(decode(&bytes, 1_000), Err(DecodeError::Expired));
    assert_eq!(remaining_ttl(&bytes, 400), Some(Duration::from_millis(600)));
    assert_eq!(remaining_ttl(&encode(&prediction(&[1.0], false), 0), 400), None);
}

#[test]
fn keys_separate_models_fingerprints_texts_and_pairs() {
    let key = |m: &str, f: &str, input: TextInput| CacheKey {
        model: m.into(),
        identity: f.into(),
        num_labels: 2,
        input: input.into(),
    };
    let a = stored_key(&key("m", "f1", TextInput::single("text")), "g0.0");
    assert!(a.starts_with(&model_prefix("m")));
    assert_eq!((a.len(), model_prefix("m").len()), (22, 4));
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{a}");
    assert_ne!(a, stored_key(&key("m", "f1", TextInput::single("text")), "g1.0"));
    assert_ne!(a, stored_key(&key("m", "f2", TextInput::single("text")), "g0.0"));
    assert_ne!(a, stored_key(&key("m", "f1", TextInput::single("text ")), "g0.0"));
    assert!(!stored_key(&key("mm", "f1", TextInput::single("text")), "g0.0").starts_with(&model_prefix("m")));
    let pair = stored_key(&key("m", "f1", TextInput::pair("text", "other")), "g0.0");
    assert_ne!(a, pair);
    assert_ne!(pair, stored_key(&key("m", "f1", TextInput::pair("text", "")), "g0.0"));
    assert_ne!(pair, stored_key(&key("m", "f1", TextInput::pair("textother", "")), "g0.0"));
    assert_ne!(pair, stored_key(&key("m", "f1", TextInput::pair("tex", "tother")), "g0.0"));
}

#[test]
fn no_text_shares_a_key_with_a_pair() {
    // The verified wrong answer: a text holding NUL hashed like the pair around it.
    let key = |input: TextInput| {
        stored_key(&CacheKey { model: "m".into(), identity: "f".into(), num_labels: 2, input: input.into() }, "g")
    };
    let pair = key(TextInput::pair("This is terrible", "just kidding, it is wonderful"));
    assert_ne!(pair, key(TextInput::single("This is terrible\u{0}just kidding, it is wonderful")));
    assert_ne!(pair, key(TextInput::single("This is terrible\u{0}\u{1}just kidding, it is wonderful")));
    assert_ne!(key(TextInput::single("")), key(TextInput::pair("", "")));
}

#[test]
fn non_finite_and_foreign_values_are_refused() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        assert_eq!(decode(&encode(&prediction(&[1.0, bad], false), 0), 0), Err(DecodeError::Corrupt));
    }
    let two = encode(&prediction(&[1.0, -1.0], false), 0);
    assert!(decode_for(&two, 0, 2).is_ok());
    assert_eq!(decode_for(&two, 0, 3), Err(DecodeError::WrongLabelCount { expected: 3, found: 2 }));
    let empty = encode(&prediction(&[], false), 0);
    assert_eq!(decode_for(&empty, 0, 2), Err(DecodeError::WrongLabelCount { expected: 2, found: 0 }));
}
