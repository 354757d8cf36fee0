//! The route table: every route with the one scope it requires. Routes are added only through
//! [`RouteTable`], so none can exist without a scope, and the table is data the access-matrix test
//! walks ([`super::table`]).

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use axum::routing::{MethodFilter, on};

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
    router: Router<AppState>,
    entries: Vec<RouteEntry>,
    bulk: DefaultBodyLimit,
}

impl RouteTable {
    pub fn new(bulk: DefaultBodyLimit) -> Self {
        Self {
            router: Router::new(),
            entries: Vec::new(),
            bulk,
        }
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        scope: Scope,
        handler: H,
    ) -> Self {
        self.add(Method::GET, path, scope, handler, false)
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        scope: Scope,
        handler: H,
    ) -> Self {
        self.add(Method::POST, path, scope, handler, false)
    }

    pub fn put<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        scope: Scope,
        handler: H,
    ) -> Self {
        self.add(Method::PUT, path, scope, handler, false)
    }

    pub fn patch<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        scope: Scope,
        handler: H,
    ) -> Self {
        self.add(Method::PATCH, path, scope, handler, false)
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        scope: Scope,
        handler: H,
    ) -> Self {
        self.add(Method::DELETE, path, scope, handler, false)
    }

    /// A POST taking a bulk body (tariffs, CDRs, re-ratings, settlement reports).
    pub fn post_bulk<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        scope: Scope,
        handler: H,
    ) -> Self {
        self.add(Method::POST, path, scope, handler, true)
    }

    /// A PUT taking a bulk body.
    pub fn put_bulk<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        scope: Scope,
        handler: H,
    ) -> Self {
        self.add(Method::PUT, path, scope, handler, true)
    }

    fn add<H: Handler<T, AppState>, T: 'static>(
        mut self,
        method: Method,
        path: &'static str,
        scope: Scope,
        handler: H,
        bulk: bool,
    ) -> Self {
        let filter = MethodFilter::try_from(method.clone()).expect("a routable method");
        let mut route =
            on(filter, handler).route_layer(from_fn(move |request: Request, next: Next| {
                require(scope, request, next)
            }));
        if bulk {
            route = route.layer(self.bulk);
        }
        // The same path twice merges the method routers (axum panics on a repeated method).
        self.router = self.router.route(path, route);
        self.entries.push(RouteEntry {
            method,
            path,
            scope,
        });
        self
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<RouteEntry>) {
        (self.router, self.entries)
    }
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
