//! The `inputs` of the compatibility routes, as [`TextInput`]s, and their OpenAPI
//! shapes: TEI's `POST /predict` (a string, a pair, or a batch of one- or two-element
//! lists) and the Inference API's text-classification task (a string or a list of
//! strings).

use serde_json::Value;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};

use crate::http::error::{ApiError, ErrorKind};
use crate::model::TextInput;

/// One TEI sequence: `"text"`, `["text"]` or `["text", "pair"]`.
fn sequence(value: &Value) -> Option<TextInput> {
    match value {
        Value::String(text) => Some(TextInput::single(text.as_str())),
        Value::Array(items) => match items.as_slice() {
            [Value::String(text)] => Some(TextInput::single(text.as_str())),
            [Value::String(text), Value::String(pair)] => Some(TextInput::pair(text.as_str(), pair.as_str())),
            _ => None,
        },
        _ => None,
    }
}

/// TEI's `inputs`: `(inputs, is_batch)`.
///
/// Errors: 400 `empty_batch` for `[]`; 422 for any other shape.
pub fn tei(inputs: &Value) -> Result<(Vec<TextInput>, bool), ApiError> {
    let shape_error = || {
        ApiError::invalid(
            "`inputs` must be a string, a [text, text_pair] pair, or a batch [[text], ...] / [[text, text_pair], ...]",
        )
    };
    match inputs {
        Value::String(_) => Ok((vec![sequence(inputs).ok_or_else(shape_error)?], false)),
        Value::Array(items) if items.is_empty() => {
            Err(ApiError::new(ErrorKind::EmptyBatch, "`inputs` cannot be empty"))
        }
        Value::Array(items) if items.iter().all(Value::is_string) => {
            if items.len() == 2 {
                Ok((vec![sequence(inputs).ok_or_else(shape_error)?], false))
            } else {
                Err(ApiError::invalid(
                    "a list of strings must be a [text, text_pair] pair; send a batch as [[text], [text], ...]",
                ))
            }
        }
        Value::Array(items) if !items.is_empty() => {
            // Batch items are lists (`[text]` or `[text, text_pair]`), as in TEI's schema.
            let item = |v: &Value| v.is_array().then(|| sequence(v)).flatten();
            let batch = items.iter().map(item).collect::<Option<Vec<_>>>().ok_or_else(shape_error)?;
            Ok((batch, true))
        }
        _ => Err(shape_error()),
    }
}

/// The Inference API's `inputs`: one text, or a non-empty list of texts.
///
/// Errors: 422 for any other shape.
pub fn inference(inputs: &Value) -> Result<Vec<TextInput>, ApiError> {
    match inputs {
        Value::String(text) => Ok(vec![TextInput::single(text.as_str())]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(TextInput::single))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::invalid("`inputs` must be a string or a list of strings")),
        _ => Err(ApiError::invalid("`inputs` must be a string or a non-empty list of strings")),
    }
}

/// The schema of TEI's `inputs`: a string, a `[text, text_pair]` pair, or a non-empty
/// batch of `[text]` / `[text, text_pair]` lists.
pub fn tei_schema() -> Schema {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let sequence = |min| ArrayBuilder::new().items(text()).min_items(Some(min)).max_items(Some(2));
    OneOfBuilder::new()
        .item(text())
        .item(sequence(2))
        .item(ArrayBuilder::new().items(sequence(1)).min_items(Some(1)))
        .into()
}

/// The schema of the Inference API's `inputs`: a string or a non-empty list of strings.
pub fn inference_schema() -> Schema {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    OneOfBuilder::new().item(text()).item(ArrayBuilder::new().items(text()).min_items(Some(1))).into()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tei_input_shapes_parse_as_tei_documents_them() {
        let single = |t: &str| TextInput::single(t);
        assert_eq!(tei(&json!("a")).unwrap(), (vec![single("a")], false));
        assert_eq!(tei(&json!(["a", "b"])).unwrap(), (vec![TextInput::pair("a", "b")], false));
        assert_eq!(tei(&json!([["a"], ["b"]])).unwrap(), (vec![single("a"), single("b")], true));
        assert_eq!(tei(&json!([["a", "b"], ["c"]])).unwrap(), (vec![TextInput::pair("a", "b"), single("c")], true));
        let mixed = json!(["a", ["b"]]);
        for bad in
            [json!([]), json!(["a"]), json!(["a", "b", "c"]), json!([["a", "b", "c"]]), json!(1), json!([[1]]), mixed]
        {
            assert!(tei(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn inference_inputs_are_a_text_or_a_list_of_texts() {
        assert_eq!(inference(&json!("a")).unwrap(), vec![TextInput::single("a")]);
        assert_eq!(inference(&json!(["a", "b"])).unwrap(), vec![TextInput::single("a"), TextInput::single("b")]);
        for bad in [json!([]), json!([["a"]]), json!(["a", 1]), json!(null), json!({"text": "a"})] {
            assert!(inference(&bad).is_err(), "{bad}");
        }
    }
}
