//! The console's extractors, in one place: a JSON body and a query string whose rejections
//! answer in the console's error shape, and the slug check every `{slug}` route makes first.
//! The API routes and the page's routes both use them; neither borrows from the other.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::Json;
use hearth_protocol::hearth::ErrorCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::AppState;

/// A JSON body whose rejections answer in the console's error shape (413 over the cap).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> FromRequest<AppState> for ApiJson<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge {
                    limit: state.policy.body_limit,
                })
            }
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A query string whose rejections answer in the console's error shape.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T> axum::extract::FromRequestParts<AppState> for ApiQuery<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|r| ApiError::BadRequest(r.body_text()))
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    ApiError::BadRequest(rejection.body_text())
}

/// Refuses a slug hearth would refuse as a workspace's — the one rule of
/// `hearth_protocol::slug::workspace`, pool members' reserved form included — before anything
/// is logged or called, so junk never reaches the audit log.
pub(crate) fn check_slug(slug: &str) -> Result<(), ApiError> {
    use hearth_protocol::slug;
    slug::workspace(slug).map(|_| ()).map_err(|e| {
        let hint = if e.why == slug::RESERVED_FOR_MEMBERS {
            slug::RESERVED_HINT
        } else {
            slug::HINT
        };
        ApiError::Hearth {
            code: ErrorCode::InvalidSlug,
            message: e.to_string(),
            hint: Some(hint.to_owned()),
            http_status: Some(400),
        }
    })
}
