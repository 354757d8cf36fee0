//! Successful answers other than a plain `200` JSON body, typed so that the OpenAPI document
//! ([`crate::openapi`]) knows each route's status and schema from the handler's signature.

use aide::OperationOutput;
use aide::generate::GenContext;
use aide::openapi::{Header, Operation, ReferenceOr, Response as DocResponse};
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;

/// `201 Created` with the new record, and its path in `Location` when it has one of its own.
pub struct Created<T> {
    pub body: T,
    pub location: Option<String>,
}

impl<T> Created<T> {
    pub fn new(body: T) -> Self {
        Self {
            body,
            location: None,
        }
    }

    pub fn at(location: impl Into<String>, body: T) -> Self {
        Self {
            body,
            location: Some(location.into()),
        }
    }
}

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        match self.location {
            Some(location) => (
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(self.body),
            )
                .into_response(),
            None => (StatusCode::CREATED, Json(self.body)).into_response(),
        }
    }
}

impl<T: JsonSchema> OperationOutput for Created<T> {
    type Inner = T;

    fn operation_response(ctx: &mut GenContext, operation: &mut Operation) -> Option<DocResponse> {
        let mut response = Json::<T>::operation_response(ctx, operation)?;
        response.description = "Created".into();
        response.headers.insert(
            "Location".into(),
            ReferenceOr::Item(Header {
                description: Some("The path of the new record, where it has one.".into()),
                style: Default::default(),
                required: false,
                deprecated: None,
                format: aide::openapi::ParameterSchemaOrContent::Schema(
                    aide::openapi::SchemaObject {
                        json_schema: schemars::json_schema!({"type": "string"}),
                        example: None,
                        external_docs: None,
                    },
                ),
                example: None,
                examples: Default::default(),
                extensions: Default::default(),
            }),
        );
        Some(response)
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<u16>, DocResponse)> {
        at_status(201, Self::operation_response(ctx, operation))
    }
}

/// `202 Accepted`: the request is taken and its effect follows; the body says what was accepted.
pub struct Accepted<T>(pub T);

impl<T: Serialize> IntoResponse for Accepted<T> {
    fn into_response(self) -> Response {
        (StatusCode::ACCEPTED, Json(self.0)).into_response()
    }
}

impl<T: JsonSchema> OperationOutput for Accepted<T> {
    type Inner = T;

    fn operation_response(ctx: &mut GenContext, operation: &mut Operation) -> Option<DocResponse> {
        let mut response = Json::<T>::operation_response(ctx, operation)?;
        response.description = "Accepted".into();
        Some(response)
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<u16>, DocResponse)> {
        at_status(202, Self::operation_response(ctx, operation))
    }
}

/// A documented answer as the only success response, at `status`.
fn at_status(status: u16, response: Option<DocResponse>) -> Vec<(Option<u16>, DocResponse)> {
    response
        .map(|r| vec![(Some(status), r)])
        .unwrap_or_default()
}

/// `200` with a CSV document (`text/csv; charset=utf-8`, a header row first), streamed as it is
/// read, downloaded as `filename`.
pub struct Csv {
    pub filename: &'static str,
    pub body: axum::body::Body,
}

impl IntoResponse for Csv {
    fn into_response(self) -> Response {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", self.filename),
                ),
            ],
            self.body,
        )
            .into_response()
    }
}

impl OperationOutput for Csv {
    type Inner = String;

    fn operation_response(
        _ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Option<DocResponse> {
        Some(DocResponse {
            description: "CSV, a header row first".into(),
            content: crate::openapi::content(
                "text/csv",
                schemars::json_schema!({"type": "string"}),
            ),
            ..Default::default()
        })
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<u16>, DocResponse)> {
        at_status(200, Self::operation_response(ctx, operation))
    }
}
