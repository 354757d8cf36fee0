//! The route table: every route with the one scope it requires. Routes are added only through
//! [`RouteTable`], so none can exist without a scope, and the table is data the access-matrix test
//! walks ([`super::table`]) and the OpenAPI document describes ([`crate::openapi`]).

use aide::axum::ApiRouter;
use aide::axum::routing::{self as doc, ApiMethodRouter};
use aide::operation::OperationHandler;
use aide::transform::TransformOperation;
use aide::{OperationInput, OperationOutput};
use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{Next, from_fn};
use axum::response::Response;

use super::AppState;
use crate::access::Scope;
use crate::auth::Principal;
use crate::problem::ApiError;

/// One route: method, path template (axum syntax) and the scope it requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub method: Method,
    pub path: &'static str,
    pub scope: Scope,
}

/// Builds the router and its table together.
pub struct RouteTable {
    router: ApiRouter<AppState>,
    entries: Vec<RouteEntry>,
    bulk: DefaultBodyLimit,
}

impl RouteTable {
    pub fn new(bulk: DefaultBodyLimit) -> Self {
        Self {
            router: ApiRouter::new(),
            entries: Vec::new(),
            bulk,
        }
    }

    pub fn get<H, I, O, T>(self, path: &'static str, scope: Scope, handler: H) -> Self
    where
        H: Handler<T, AppState> + OperationHandler<I, O>,
        I: OperationInput,
        O: OperationOutput,
        T: 'static,
    {
        self.add(Method::GET, path, scope, handler, false)
    }

    pub fn post<H, I, O, T>(self, path: &'static str, scope: Scope, handler: H) -> Self
    where
        H: Handler<T, AppState> + OperationHandler<I, O>,
        I: OperationInput,
        O: OperationOutput,
        T: 'static,
    {
        self.add(Method::POST, path, scope, handler, false)
    }

    pub fn put<H, I, O, T>(self, path: &'static str, scope: Scope, handler: H) -> Self
    where
        H: Handler<T, AppState> + OperationHandler<I, O>,
        I: OperationInput,
        O: OperationOutput,
        T: 'static,
    {
        self.add(Method::PUT, path, scope, handler, false)
    }

    pub fn patch<H, I, O, T>(self, path: &'static str, scope: Scope, handler: H) -> Self
    where
        H: Handler<T, AppState> + OperationHandler<I, O>,
        I: OperationInput,
        O: OperationOutput,
        T: 'static,
    {
        self.add(Method::PATCH, path, scope, handler, false)
    }

    pub fn delete<H, I, O, T>(self, path: &'static str, scope: Scope, handler: H) -> Self
    where
        H: Handler<T, AppState> + OperationHandler<I, O>,
        I: OperationInput,
        O: OperationOutput,
        T: 'static,
    {
        self.add(Method::DELETE, path, scope, handler, false)
    }

    /// A POST taking a bulk body (tariffs, CDRs, re-ratings, settlement reports).
    pub fn post_bulk<H, I, O, T>(self, path: &'static str, scope: Scope, handler: H) -> Self
    where
        H: Handler<T, AppState> + OperationHandler<I, O>,
        I: OperationInput,
        O: OperationOutput,
        T: 'static,
    {
        self.add(Method::POST, path, scope, handler, true)
    }

    /// A PUT taking a bulk body.
    pub fn put_bulk<H, I, O, T>(self, path: &'static str, scope: Scope, handler: H) -> Self
    where
        H: Handler<T, AppState> + OperationHandler<I, O>,
        I: OperationInput,
        O: OperationOutput,
        T: 'static,
    {
        self.add(Method::PUT, path, scope, handler, true)
    }

    fn add<H, I, O, T>(
        mut self,
        method: Method,
        path: &'static str,
        scope: Scope,
        handler: H,
        bulk: bool,
    ) -> Self
    where
        H: Handler<T, AppState> + OperationHandler<I, O>,
        I: OperationInput,
        O: OperationOutput,
        T: 'static,
    {
        let verb = method.clone();
        let describe = documented(move |op| describe(op, &verb, path, scope));
        let route: ApiMethodRouter<AppState> = match method {
            Method::GET => doc::get_with(handler, describe),
            Method::POST => doc::post_with(handler, describe),
            Method::PUT => doc::put_with(handler, describe),
            Method::PATCH => doc::patch_with(handler, describe),
            Method::DELETE => doc::delete_with(handler, describe),
            ref other => unreachable!("the table routes no {other}"),
        };
        let mut route = route.route_layer(from_fn(move |request: Request, next: Next| {
            require(scope, request, next)
        }));
        if bulk {
            route = route.layer(self.bulk);
        }
        // The same path twice merges the method routers (axum panics on a repeated method).
        self.router = self.router.api_route(path, route);
        self.entries.push(RouteEntry {
            method,
            path,
            scope,
        });
        self
    }

    pub fn into_parts(self) -> (ApiRouter<AppState>, Vec<RouteEntry>) {
        (self.router, self.entries)
    }
}

/// A transform for every lifetime of the operation it is given (a closure's own inference picks
/// one).
fn documented<F>(f: F) -> F
where
    F: for<'a> FnOnce(TransformOperation<'a>) -> TransformOperation<'a>,
{
    f
}

/// What the table knows of an operation beyond its types: id, tag, the scope it requires (and the
/// bearer scheme), its path parameters and, for a POST, the `Idempotency-Key` header.
fn describe<'t>(
    op: TransformOperation<'t>,
    method: &Method,
    path: &str,
    scope: Scope,
) -> TransformOperation<'t> {
    let mut op = op
        .id(&crate::openapi::operation_id(method.as_str(), path))
        .tag(crate::openapi::tag_of(path))
        .description(&format!("Requires the scope `{scope}`."))
        .security_requirement_scopes(crate::openapi::BEARER, [scope.as_str()]);
    let operation = op.inner_mut();
    operation
        .parameters
        .extend(crate::openapi::path_parameters(path));
    if method == Method::POST {
        operation
            .parameters
            .push(crate::openapi::idempotency_header());
    }
    op
}

/// Refuses a caller whose credential lacks `scope` with 403 naming it.
async fn require(scope: Scope, request: Request, next: Next) -> Result<Response, ApiError> {
    let allowed = request
        .extensions()
        .get::<Principal>()
        .is_some_and(|p| p.has(scope));
    if allowed {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::Forbidden(scope))
    }
}
