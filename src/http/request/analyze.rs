//! The body of `POST /analyze`: exactly one of `text` (with an optional `text_pair`)
//! and `texts`, plus the [`PipelineOptions`]. One struct is deserialized, for precise
//! error messages; its OpenAPI shape is written by hand from the same fields, as two
//! closed objects under `oneOf`, so the document accepts exactly what the server
//! accepts.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType,
    Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::PipelineOptions;
use crate::http::error::ApiError;
use crate::model::TextInput;

/// Body of `POST /analyze`: one input (`text`, optional `text_pair`) or several
/// (`texts`), plus transformers pipeline options.
#[derive(Debug, Deserialize)]
pub struct AnalyzeRequest {
    /// One text (absent, never `null`, when `texts` is given).
    #[serde(default, deserialize_with = "non_null")]
    pub text: Option<String>,
    /// The second sequence of a text pair (NLI hypothesis, passage); only with `text`.
    pub text_pair: Option<String>,
    /// Several inputs, answered in order: strings, or `{"text", "text_pair"}` objects
    /// (absent, never `null`, when `text` is given).
    #[serde(default, deserialize_with = "non_null")]
    pub texts: Option<Vec<AnalyzeInput>>,
    /// A configured model name; default model when absent.
    pub model: Option<String>,
    /// `top_k`, `function_to_apply`, `raw_scores`, `truncate`.
    #[serde(flatten)]
    pub options: PipelineOptions,
    /// Fields the body should not have (`deny_unknown_fields` does not work beside
    /// `flatten`, so they are collected and refused by [`AnalyzeRequest::inputs`]).
    #[serde(flatten)]
    unknown: BTreeMap<String, IgnoredAny>,
}

/// The fields of `POST /analyze` other than the pipeline options.
const FIELDS: &[&str] = &["text", "text_pair", "texts", "model"];

impl AnalyzeRequest {
    /// The request's inputs, in order.
    ///
    /// Errors: 422 for an unknown field, both or neither of `text` and `texts`,
    /// `text_pair` beside `texts`, or an empty `texts`.
    pub fn inputs(&mut self) -> Result<Vec<TextInput>, ApiError> {
        if let Some(field) = self.unknown.keys().next() {
            let expected: Vec<String> =
                FIELDS.iter().chain(PipelineOptions::FIELDS).map(|f| format!("`{f}`")).collect();
            return Err(ApiError::invalid(format!("unknown field `{field}`, expected one of {}", expected.join(", "))));
        }
        match (self.text.take(), self.texts.take()) {
            (Some(_), Some(_)) => Err(ApiError::invalid("give either `text` or `texts`, not both")),
            (None, None) => Err(ApiError::invalid("missing field `text` (a string) or `texts` (a list of strings)")),
            (Some(text), None) => Ok(vec![match self.text_pair.take() {
                Some(pair) => TextInput::pair(text, pair),
                None => TextInput::single(text),
            }]),
            (None, Some(_)) if self.text_pair.is_some() => Err(ApiError::invalid(
                "`text_pair` goes with `text`; in `texts`, give {\"text\", \"text_pair\"} objects",
            )),
            (None, Some(texts)) if texts.is_empty() => Err(ApiError::invalid("`texts` is empty")),
            (None, Some(texts)) => Ok(texts.into_iter().map(TextInput::from).collect()),
        }
    }
}

/// Deserializes a field that may be absent (`#[serde(default)]` makes it `None`) but
/// is never `null`.
pub fn non_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// One input of `texts`: a string, or a text pair as an object. Read through a JSON
/// value so that an array (`["a", "b"]`, which serde would take as a struct written
/// positionally) is refused, as the document says.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged, try_from = "serde_json::Value")]
pub enum AnalyzeInput {
    /// A single text.
    Text(String),
    /// A text, optionally with its pair.
    Pair(TextPair),
}

/// A text and, optionally, its pair.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextPair {
    /// The text (first sequence).
    pub text: String,
    /// The second sequence.
    pub text_pair: Option<String>,
}

impl TryFrom<serde_json::Value> for AnalyzeInput {
    type Error = String;

    fn try_from(value: serde_json::Value) -> Result<Self, String> {
        match value {
            serde_json::Value::String(text) => Ok(Self::Text(text)),
            object @ serde_json::Value::Object(_) => {
                serde_json::from_value(object).map(Self::Pair).map_err(|e| format!("an input of `texts`: {e}"))
            }
            other => Err(format!(
                "an input of `texts` is a string or {{\"text\", \"text_pair\"}}, not {}",
                match other {
                    serde_json::Value::Array(_) => "an array",
                    serde_json::Value::Null => "null",
                    serde_json::Value::Bool(_) => "a boolean",
                    _ => "a number",
                }
            )),
        }
    }
}

impl From<AnalyzeInput> for TextInput {
    fn from(input: AnalyzeInput) -> Self {
        match input {
            AnalyzeInput::Text(text) | AnalyzeInput::Pair(TextPair { text, text_pair: None }) => {
                TextInput::single(text)
            }
            AnalyzeInput::Pair(TextPair { text, text_pair: Some(pair) }) => TextInput::pair(text, pair),
        }
    }
}

/// A closed object with the pipeline options, `model` and `fields`, requiring
/// `required`.
fn closed_object(description: &str, fields: Vec<(&str, RefOr<Schema>)>, required: &str) -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut object)) = PipelineOptions::schema() else {
        unreachable!("PipelineOptions derives an object schema")
    };
    let model = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some("A configured model name; default model when absent."));
    object.properties.insert("model".into(), model.into());
    for (name, schema) in fields {
        object.properties.insert(name.into(), schema);
    }
    object.required = vec![required.into()];
    object.description = Some(description.into());
    object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
    RefOr::T(Schema::Object(object))
}

/// `raw_scores: true` and a `function_to_apply` other than `none` contradict each
/// other (422): either `raw_scores` is not `true`, or `function_to_apply` is absent,
/// `null` or `none`.
fn agreeing_score_options() -> AnyOfBuilder {
    let not_raw = ObjectBuilder::new().property(
        "raw_scores",
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null]))
            .enum_values(Some([serde_json::json!(false), serde_json::Value::Null])),
    );
    let no_function = ObjectBuilder::new().property(
        "function_to_apply",
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .enum_values(Some([serde_json::json!("none"), serde_json::Value::Null])),
    );
    AnyOfBuilder::new().item(not_raw).item(no_function)
}

impl PartialSchema for AnalyzeRequest {
    fn schema() -> RefOr<Schema> {
        let text = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("One text."))
            .examples([serde_json::json!("I love this movie!")]);
        let text_pair = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .description(Some("The second sequence of a text pair (NLI hypothesis, passage)."));
        let texts = ArrayBuilder::new()
            .items(RefOr::Ref(Ref::from_schema_name(AnalyzeInput::name())))
            .min_items(Some(1))
            .description(Some("The inputs, answered in order: strings, or `{\"text\", \"text_pair\"}` objects."));
        let one = closed_object(
            "`POST /analyze` with one input.",
            vec![("text", text.into()), ("text_pair", text_pair.into())],
            "text",
        );
        let batch = closed_object("`POST /analyze` with several inputs.", vec![("texts", texts.into())], "texts");
        let shapes = OneOfBuilder::new().item(one).item(batch);
        AllOfBuilder::new()
            .item(shapes)
            .item(agreeing_score_options())
            .description(Some(
                "Body of `POST /analyze`: one input (`text`, optional `text_pair`) or several (`texts`), plus \
                 transformers pipeline options (`raw_scores: true` only with `function_to_apply` absent or \
                 `none`).",
            ))
            .into()
    }
}

impl ToSchema for AnalyzeRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AnalyzeRequest")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((AnalyzeInput::name().into_owned(), AnalyzeInput::schema()));
        AnalyzeInput::schemas(schemas);
        PipelineOptions::schemas(schemas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<AnalyzeRequest, serde_json::Error> {
        serde_json::from_str(body)
    }

    #[test]
    fn top_k_takes_integers_however_json_spells_them() {
        let top_k = |body: &str| parse(body).map(|r| r.options.top_k);
        assert_eq!(top_k(r#"{"text": "x", "top_k": 3}"#).unwrap(), Some(3));
        assert_eq!(top_k(r#"{"text": "x", "top_k": 3.0}"#).unwrap(), Some(3));
        assert_eq!(top_k(r#"{"text": "x", "top_k": null}"#).unwrap(), None);
        assert_eq!(top_k(r#"{"text": "x"}"#).unwrap(), None);
        for bad in [r#"{"top_k": 2.5}"#, r#"{"top_k": -1}"#, r#"{"top_k": "3"}"#] {
            assert!(top_k(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_pair_is_an_object_never_an_array() {
        assert!(parse(r#"{"texts": [{"text": "a", "text_pair": "b"}]}"#).is_ok());
        for bad in [r#"{"texts": [["a", "b"]]}"#, r#"{"texts": [null]}"#, r#"{"texts": [1]}"#] {
            let error = parse(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(error.contains("is a string or"), "{bad}: {error}");
        }
        assert!(parse(r#"{"texts": [{"text": "a", "extra": 1}]}"#).is_err());
    }

    #[test]
    fn text_and_texts_may_be_absent_but_never_null() {
        assert!(parse(r#"{"text": null, "texts": ["a"]}"#).is_err());
        assert!(parse(r#"{"text": "a", "texts": null}"#).is_err());
        assert!(parse(r#"{"texts": ["a"]}"#).is_ok());
    }

    #[test]
    fn inputs_come_from_exactly_one_of_text_and_texts() {
        let inputs = |body: &str| parse(body).unwrap().inputs().map_err(|e| e.message);
        assert_eq!(inputs(r#"{"text": "a"}"#).unwrap(), vec![TextInput::single("a")]);
        assert_eq!(inputs(r#"{"text": "a", "text_pair": "b"}"#).unwrap(), vec![TextInput::pair("a", "b")]);
        assert_eq!(
            inputs(r#"{"texts": ["a", {"text": "b", "text_pair": "c"}, {"text": "d"}]}"#).unwrap(),
            vec![TextInput::single("a"), TextInput::pair("b", "c"), TextInput::single("d")]
        );
        for (body, message) in [
            (r#"{"text": "a", "texts": ["b"]}"#, "not both"),
            (r#"{}"#, "missing field"),
            (r#"{"texts": ["a"], "text_pair": "b"}"#, "goes with `text`"),
            (r#"{"texts": []}"#, "is empty"),
            (r#"{"text": "a", "extra": 1}"#, "unknown field `extra`"),
        ] {
            let error = inputs(body).unwrap_err();
            assert!(error.contains(message), "{body}: {error}");
        }
        assert!(parse(r#"{"texts": [{"text": "a", "extra": 1}]}"#).is_err(), "pairs are closed objects");
    }

    #[test]
    fn the_options_are_read_beside_the_inputs() {
        let request = parse(r#"{"text": "a", "top_k": 1, "function_to_apply": "sigmoid", "truncate": false}"#).unwrap();
        assert_eq!(request.options.top_k, Some(1));
        assert_eq!(request.options.function_to_apply, Some(crate::model::ScoreFunction::Sigmoid));
        assert_eq!(request.options.truncate, Some(false));
    }

    #[test]
    fn the_document_has_both_shapes_closed_with_every_option() {
        let schema = serde_json::to_value(AnalyzeRequest::schema()).unwrap();
        let shapes = schema["allOf"][0]["oneOf"].as_array().unwrap();
        assert_eq!(shapes.len(), 2, "{schema}");
        for (shape, input) in shapes.iter().zip(["text", "texts"]) {
            assert_eq!(shape["additionalProperties"], false, "{shape}");
            assert_eq!(shape["required"], serde_json::json!([input]), "{shape}");
            for field in FIELDS.iter().chain(PipelineOptions::FIELDS).filter(|f| !f.starts_with("text")) {
                assert!(shape["properties"][field].is_object(), "{field} missing in {shape}");
            }
        }
        assert_eq!(shapes[0]["properties"]["text_pair"]["type"], serde_json::json!(["string", "null"]));
        assert_eq!(shapes[1]["properties"]["texts"]["minItems"], 1);
        assert_eq!(shapes[0]["properties"]["top_k"]["minimum"], 1);
        // The document also says `raw_scores: true` needs `function_to_apply` absent or `none`.
        let agree = schema["allOf"][1]["anyOf"].as_array().unwrap();
        assert_eq!(agree[0]["properties"]["raw_scores"]["enum"], serde_json::json!([false, null]));
        assert_eq!(agree[1]["properties"]["function_to_apply"]["enum"], serde_json::json!(["none", null]));
    }
}
