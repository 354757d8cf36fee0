//! The OpenAPI 3.1 document, generated from the code: the route table ([`crate::routes::table`])
//! gives each operation its method, path and scope; the handlers' extractor and answer types give
//! its parameters, body and responses ([`aide`]'s inference, with the impls here for the api's own
//! extractors); the types' `JsonSchema` derives give the schemas. Served unauthenticated at
//! `GET /v1/openapi.json`, rendered at `GET /docs`.

use std::sync::Arc;

use aide::generate::GenContext;
use aide::openapi::{
    Info, MediaType, OpenApi, Operation, Parameter, ParameterData, ParameterSchemaOrContent,
    ReferenceOr, RequestBody, Response as DocResponse, SchemaObject, SecurityScheme, Tag,
};
use aide::{OperationInput, OperationOutput};
use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use indexmap::IndexMap;
use schemars::JsonSchema;

use crate::extract::{ApiJson, JsonObjectText, ParamKind, QueryParams, RawBody, RawQuery};
use crate::problem::{ApiError, PROBLEM_JSON, Problem};

/// The name of the bearer scheme every `/v1` operation requires.
pub const BEARER: &str = "bearer";

/// The document's frame: info, the bearer scheme, tags. The paths come from the route table.
pub fn frame(api: &mut OpenApi) {
    api.info = Info {
        title: "Joule API".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: Some(
            "EV-charging billing and payments. Every `/v1` route needs \
             `Authorization: Bearer <credential>` (an API key, an OAuth2 access token from \
             `POST /oauth/token`, or the admin token) whose role grants the scope the operation \
             names. Errors are `application/problem+json`; every `POST` takes an \
             `Idempotency-Key`. Lists answer `data` and `next_cursor`."
                .into(),
        ),
        ..Info::default()
    };
    let components = api.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        BEARER.into(),
        ReferenceOr::Item(SecurityScheme::Http {
            scheme: "bearer".into(),
            bearer_format: None,
            description: Some(
                "An API key (`jk_...`), an OAuth2 access token or the admin token.".into(),
            ),
            extensions: IndexMap::default(),
        }),
    );
}

/// The events webhooks deliver (ADR 040), in the document's `webhooks`: one per event type, its
/// body the envelope with `data` the event's message, whose schema the `.proto` gives
/// ([`joule_proto::json::schema`]). A failure to read the descriptors leaves them out, loudly.
pub fn webhooks(api: &mut OpenApi) {
    use joule_proto::json::{PUBLIC_EVENT_TYPES, schema};
    const PREFIX: &str = "#/components/schemas/";
    let schemas = match schema::message_schemas(PUBLIC_EVENT_TYPES, PREFIX) {
        Ok(schemas) => schemas,
        Err(e) => {
            tracing::error!(error = %e, "the events' schemas are missing from the OpenAPI document");
            return;
        }
    };
    let components = api.components.get_or_insert_with(Default::default);
    for (name, json) in schemas {
        if let Ok(json_schema) = schemars::Schema::try_from(json) {
            components.schemas.insert(
                name,
                SchemaObject {
                    json_schema,
                    example: None,
                    external_docs: None,
                },
            );
        }
    }
    for event_type in PUBLIC_EVENT_TYPES {
        let body =
            schema::envelope_schema(serde_json::json!({"$ref": format!("{PREFIX}{event_type}")}));
        let Ok(json_schema) = schemars::Schema::try_from(body) else {
            continue;
        };
        let operation = Operation {
            summary: Some(format!("{event_type}, as a webhook delivers it")),
            description: Some(
                "POSTed to each enabled endpoint that takes this event type, at least once \
                 (de-duplicate on `Joule-Event-Id`), with `Joule-Signature: t=<unix seconds>,\
                 v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>` (a second `v1=` while a rotated-out \
                 secret overlaps). Anything but a 2xx is retried with backoff for 3 days."
                    .into(),
            ),
            request_body: Some(ReferenceOr::Item(json_request(json_schema))),
            responses: Some(aide::openapi::Responses {
                default: Some(ReferenceOr::Item(DocResponse {
                    description: "A 2xx acknowledges the delivery; anything else is retried."
                        .into(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        api.webhooks.insert(
            (*event_type).to_owned(),
            ReferenceOr::Item(aide::openapi::PathItem {
                post: Some(operation),
                ..Default::default()
            }),
        );
    }
}

/// The tag of a path: its first segment after `/v1` (`/v1/sessions/{id}` is `sessions`).
pub fn tag_of(path: &str) -> &str {
    path.trim_start_matches("/v1/")
        .split('/')
        .next()
        .unwrap_or("")
}

/// A stable operation id from method and path: `GET /v1/sessions/{id}/cost` is
/// `get_sessions_id_cost`.
pub fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_ascii_lowercase();
    for segment in path.trim_start_matches("/v1/").split('/') {
        let word: String = segment
            .trim_matches(|c| c == '{' || c == '}')
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if !word.is_empty() {
            id.push('_');
            id.push_str(&word);
        }
    }
    id
}

/// The path parameters of a template (`{id}`, `{name}`): strings, required.
pub fn path_parameters(path: &str) -> Vec<ReferenceOr<Parameter>> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            ReferenceOr::Item(Parameter::Path {
                parameter_data: parameter_data(name, true, None),
                style: Default::default(),
            })
        })
        .collect()
}

fn parameter_data(name: &str, required: bool, description: Option<&str>) -> ParameterData {
    ParameterData {
        name: name.into(),
        description: description.map(str::to_owned),
        required,
        deprecated: None,
        format: ParameterSchemaOrContent::Schema(SchemaObject {
            json_schema: schemars::json_schema!({"type": "string"}),
            example: None,
            external_docs: None,
        }),
        example: None,
        examples: IndexMap::default(),
        explode: None,
        extensions: IndexMap::default(),
    }
}

/// The `Idempotency-Key` header every POST takes (ADR 039).
pub fn idempotency_header() -> ReferenceOr<Parameter> {
    ReferenceOr::Item(Parameter::Header {
        parameter_data: parameter_data(
            "Idempotency-Key",
            false,
            Some(
                "Any unique string up to 255 characters, reused on retries: the same key with \
                 the same body answers as the first time for 24 hours; with another body, 409.",
            ),
        ),
        style: Default::default(),
    })
}

/// `json_schema` as the one media type `media_type` of a body.
pub(crate) fn content(
    media_type: &str,
    json_schema: schemars::Schema,
) -> IndexMap<String, MediaType> {
    IndexMap::from_iter([(
        media_type.to_owned(),
        MediaType {
            schema: Some(SchemaObject {
                json_schema,
                example: None,
                external_docs: None,
            }),
            ..Default::default()
        },
    )])
}

/// A required JSON request body of `json_schema`.
fn json_request(json_schema: schemars::Schema) -> RequestBody {
    RequestBody {
        description: None,
        content: content("application/json", json_schema),
        required: true,
        extensions: IndexMap::default(),
    }
}

fn json_body<T: JsonSchema>(ctx: &mut GenContext, operation: &mut Operation) {
    let json_schema = ctx.schema.subschema_for::<T>();
    aide::operation::set_body(ctx, operation, json_request(json_schema));
}

impl<T: JsonSchema> OperationInput for ApiJson<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        json_body::<T>(ctx, operation);
    }
}

/// An object the api passes on as sent (an OCPI tariff): its schema is the receiving service's.
impl OperationInput for JsonObjectText {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        json_body::<serde_json::Map<String, serde_json::Value>>(ctx, operation);
    }
}

impl OperationInput for RawBody {}

impl<P: QueryParams> OperationInput for RawQuery<P> {
    fn operation_input(_ctx: &mut GenContext, operation: &mut Operation) {
        for param in P::params() {
            let json_schema = match param.kind {
                ParamKind::Text => schemars::json_schema!({"type": "string"}),
                ParamKind::Id => schemars::json_schema!({"type": "string", "format": "uuid"}),
                ParamKind::Time => {
                    schemars::json_schema!({"type": "string", "format": "date-time"})
                }
                ParamKind::Limit => schemars::json_schema!({
                    "type": "integer", "minimum": 1, "maximum": crate::extract::Page::MAX_LIMIT
                }),
            };
            let mut data = parameter_data(param.name, false, Some(param.description));
            data.format = ParameterSchemaOrContent::Schema(SchemaObject {
                json_schema,
                example: None,
                external_docs: None,
            });
            operation
                .parameters
                .push(ReferenceOr::Item(Parameter::Query {
                    parameter_data: data,
                    allow_reserved: false,
                    style: Default::default(),
                    allow_empty_value: None,
                }));
        }
    }
}

/// Every error is a problem: the default response of every operation.
impl OperationOutput for ApiError {
    type Inner = Problem;

    fn operation_response(ctx: &mut GenContext, _operation: &mut Operation) -> Option<DocResponse> {
        let json_schema = ctx.schema.subschema_for::<Problem>();
        Some(DocResponse {
            description: "A problem (RFC 9457): `errors` names the fields a 4xx is about.".into(),
            content: content(PROBLEM_JSON, json_schema),
            ..Default::default()
        })
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<u16>, DocResponse)> {
        Self::operation_response(ctx, operation)
            .map(|r| vec![(None, r)])
            .unwrap_or_default()
    }
}

/// Writes every subschema that is the boolean `true` ("any value", which schemars makes of a
/// `serde_json::Value`) as the empty schema `{}`, which means the same: JSON Schema 2020-12 allows
/// both, but client generators (openapi-python-client, for one) read only objects.
pub fn without_boolean_schemas(api: &mut OpenApi) {
    fn walk(schema: &mut serde_json::Map<String, serde_json::Value>) {
        for (key, field) in schema.iter_mut() {
            match key.as_str() {
                "properties" | "$defs" | "patternProperties" => {
                    if let Some(schemas) = field.as_object_mut() {
                        schemas.values_mut().for_each(subschema);
                    }
                }
                "items" | "additionalProperties" | "not" | "contains" => subschema(field),
                "oneOf" | "anyOf" | "allOf" | "prefixItems" => {
                    if let Some(schemas) = field.as_array_mut() {
                        schemas.iter_mut().for_each(subschema);
                    }
                }
                _ => {}
            }
        }
    }
    fn subschema(schema: &mut serde_json::Value) {
        if *schema == serde_json::Value::Bool(true) {
            *schema = serde_json::json!({});
        }
        if let Some(fields) = schema.as_object_mut() {
            walk(fields);
        }
    }
    let Some(components) = api.components.as_mut() else {
        return;
    };
    for schema in components.schemas.values_mut() {
        if let Some(fields) = schema.json_schema.as_object_mut() {
            walk(fields);
        }
    }
}

/// `GET /v1/openapi.json` and `GET /docs` (Redoc, served from the binary: no CDN).
pub fn routes(document: Arc<OpenApi>) -> Router {
    let json: Arc<str> = serde_json::to_string(&*document)
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        .into();
    let page: Arc<str> = aide::redoc::Redoc::new("/v1/openapi.json")
        .with_title("Joule API")
        .html()
        .into();
    Router::new()
        .route(
            "/v1/openapi.json",
            get(move || {
                let json = json.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        json.to_string(),
                    )
                }
            }),
        )
        .route(
            "/docs",
            get(move || {
                let page = page.clone();
                async move { Html(page.to_string()).into_response() }
            }),
        )
}

/// A tag per resource, in path order, so the reference page groups operations.
pub fn tags(paths: &[&'static str]) -> Vec<Tag> {
    let mut seen: Vec<&str> = Vec::new();
    for path in paths {
        let tag = tag_of(path);
        if !tag.is_empty() && !seen.contains(&tag) {
            seen.push(tag);
        }
    }
    seen.into_iter()
        .map(|name| Tag {
            name: name.into(),
            ..Tag::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_follow_method_and_path() {
        assert_eq!(
            operation_id("GET", "/v1/sessions/{id}/cost"),
            "get_sessions_id_cost"
        );
        assert_eq!(operation_id("POST", "/v1/api-keys"), "post_api_keys");
    }

    /// Every route of the table is in the document with its scope, a success response with its
    /// schema (but for a 204) and the problem as its default response; every schema it refers to
    /// is in its components.
    #[test]
    fn the_document_describes_every_route() {
        let document = crate::routes::openapi();
        let json = serde_json::to_value(&document).expect("the document serialises");
        assert_eq!(json["openapi"], "3.1.0");
        let schemas = json["components"]["schemas"].as_object().expect("schemas");
        let text = json.to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').expect("a closing quote")];
            assert!(
                schemas.contains_key(name),
                "{name} is referred to but missing"
            );
        }
        for entry in crate::routes::entries() {
            let method = entry.method.as_str().to_ascii_lowercase();
            let op = &json["paths"][entry.path][&method];
            assert!(op.is_object(), "{} {} is missing", entry.method, entry.path);
            assert_eq!(
                op["security"][0][BEARER][0],
                entry.scope.as_str(),
                "{} {}",
                entry.method,
                entry.path
            );
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses["default"]["content"][PROBLEM_JSON].is_object(),
                "{} {}: no problem response",
                entry.method,
                entry.path
            );
            let success: Vec<&String> = responses.keys().filter(|k| k.starts_with('2')).collect();
            assert_eq!(
                success.len(),
                1,
                "{} {}: {success:?}",
                entry.method,
                entry.path
            );
            if success[0] != "204" {
                let content = &responses[success[0].as_str()]["content"];
                assert!(
                    content["application/json"]["schema"].is_object()
                        || content["text/csv"]["schema"].is_object(),
                    "{} {}: no response schema",
                    entry.method,
                    entry.path
                );
            }
        }
    }

    #[test]
    fn no_schema_is_a_boolean() {
        let text = serde_json::to_string(&crate::routes::openapi()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let schemas = &value["components"]["schemas"];
        assert!(
            schemas["PriceCdrBody"]["properties"]["cdr"].is_object(),
            "{}",
            schemas["PriceCdrBody"]
        );
    }

    #[test]
    fn path_parameters_come_from_the_template() {
        let names: Vec<String> = path_parameters("/v1/tariffs/{id}/versions/{version}")
            .into_iter()
            .map(|p| match p {
                ReferenceOr::Item(Parameter::Path { parameter_data, .. }) => parameter_data.name,
                _ => panic!("a path parameter"),
            })
            .collect();
        assert_eq!(names, ["id", "version"]);
    }
}
