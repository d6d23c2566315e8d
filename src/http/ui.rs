//! The web page at `/`: static HTML, JS and CSS embedded at compile time (no CDN, no
//! build step). The page calls the JSON API from the same origin.

use axum::http::header;
use axum::response::{Html, IntoResponse};

const INDEX_HTML: &str = include_str!("../../static/index.html");
const APP_JS: &str = include_str!("../../static/app.js");
const STYLE_CSS: &str = include_str!("../../static/style.css");

/// `GET /`: the page.
#[utoipa::path(get, path = "/", tag = "ui", responses((status = 200, description = "The web page", content_type = "text/html")))]
pub async fn index() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(INDEX_HTML))
}

/// `GET /static/app.js`.
#[utoipa::path(get, path = "/static/app.js", tag = "ui", responses((status = 200, description = "The page's script", content_type = "text/javascript")))]
pub async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], APP_JS)
}

/// `GET /static/style.css`.
#[utoipa::path(get, path = "/static/style.css", tag = "ui", responses((status = 200, description = "The page's style sheet", content_type = "text/css")))]
pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], STYLE_CSS)
}
