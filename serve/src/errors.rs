//! One error shape for every answer that is not a success: handlers already answer
//! `{"error":{code,message,retryable,hint}}`; this layer rewrites the framework's own answers
//! (a path that does not decode, a method a route lacks, a body over the cap, a body that is
//! not JSON) into the same shape, so a client parses one thing.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hearth_protocol::error_code::ErrorCode;
use hearth_protocol::hearth::{ErrorBody, ErrorResponse};

/// Most bytes of a framework rejection kept as the message.
const MESSAGE_CAP: usize = 1024;

/// Rewrites an error answer that is not JSON into the documented shape; everything else
/// passes untouched. Use with `axum::middleware::map_response(json_errors)` as the outermost
/// layer.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MESSAGE_CAP * 4)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let mut out = (
        status,
        Json(ErrorResponse {
            error: shape(status, text),
        }),
    )
        .into_response();
    // Headers the framework set for a reason (Allow on 405) stay.
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The code, message and hint for a framework answer with `status` and body `text`.
fn shape(status: StatusCode, text: String) -> ErrorBody {
    let (code, hint) = match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => (
            ErrorCode::InvalidRequest,
            Some("check the path and the JSON body against the API tables in the book (docs/src/)"),
        ),
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, None),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            Some("the Allow header lists the methods this path takes"),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::PayloadTooLarge,
            Some("send a smaller body; the caps are in the book (docs/src/security.md)"),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ErrorCode::UnsupportedMediaType,
            Some("send the body as JSON with Content-Type: application/json"),
        ),
        s if s.is_server_error() => (ErrorCode::Internal, None),
        _ => (ErrorCode::InvalidRequest, None),
    };
    let mut message: String = text.chars().take(MESSAGE_CAP).collect();
    if message.is_empty() {
        message = status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_lowercase();
    }
    ErrorBody {
        code,
        message,
        retryable: status == StatusCode::SERVICE_UNAVAILABLE,
        hint: hint.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::post;
    use axum::Router;
    use tower::ServiceExt;

    async fn answer(router: Router, req: axum::http::Request<Body>) -> (u16, serde_json::Value) {
        let resp = router
            .layer(axum::middleware::map_response(json_errors))
            .oneshot(req)
            .await
            .expect("infallible");
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[tokio::test]
    async fn framework_rejections_take_the_documented_shape() {
        let router = || {
            Router::new().route(
                "/x/{id}",
                post(|axum::extract::Path(id): axum::extract::Path<String>| async move { id }),
            )
        };
        let req = |method: &str, uri: &str| {
            axum::http::Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .expect("request")
        };
        for (method, uri, status, code) in [
            ("GET", "/x/a", 405, "method_not_allowed"),
            ("POST", "/x/%ff", 400, "invalid_request"),
            ("GET", "/nowhere", 404, "not_found"),
        ] {
            let (got, body) = answer(router(), req(method, uri)).await;
            assert_eq!(got, status, "{method} {uri}: {body}");
            assert_eq!(body["error"]["code"], code, "{method} {uri}");
            assert!(body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()));
            assert_eq!(body["error"]["retryable"], false);
        }
        let (got, body) = answer(router(), req("POST", "/x/ok")).await;
        assert_eq!(
            (got, body),
            (200, serde_json::Value::Null),
            "success untouched"
        );
    }
}
