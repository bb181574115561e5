//! The simulated providers' endpoints, one handler per real path.
use super::{HANG_MAX, Mode, Service, Shared, SimState};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Applies `Slow` and `Hang`, then returns the mode to answer in (`Up`, `Down`, `ProviderError`,
/// `BadKey`).
pub(super) async fn gate(state: &SimState, svc: Service) -> Mode {
    state.requests[svc.index()].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let mut rx = state.modes.subscribe();
    loop {
        let mode = rx.borrow_and_update()[svc.index()];
        match mode {
            Mode::Slow(d) => {
                tokio::time::sleep(d).await;
                return Mode::Up;
            }
            Mode::Hang => match tokio::time::timeout(HANG_MAX, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return Mode::Down,
            },
            other => return other,
        }
    }
}

pub(super) fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn html_response(status: StatusCode, title: &str, text: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"ko\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <link rel=\"stylesheet\" href=\"https://t1.kakaocdn.net/simulated.css\"></head>\
         <body><h1>{title}</h1><p>{text}</p></body></html>"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

/// Kakao's error answers; `None` in `Up`.
fn kakao_error(mode: Mode) -> Option<Response> {
    Some(match mode {
        Mode::Down => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"code": -1, "msg": "internal server error"}),
        ),
        Mode::ProviderError => json_response(
            StatusCode::OK,
            json!({"code": -9798, "msg": "서비스 점검중입니다."}),
        ),
        Mode::BadKey => json_response(
            StatusCode::UNAUTHORIZED,
            json!({"code": -401, "msg": "wrong appKey format or invalid appKey"}),
        ),
        _ => return None,
    })
}

fn has_auth(headers: &HeaderMap, scheme: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > scheme.len() && v.starts_with(scheme))
}

pub(super) async fn kakao_discovery(State(s): Shared) -> Response {
    if let Some(r) = kakao_error(gate(&s, Service::KakaoLogin).await) {
        return r;
    }
    let b = &s.base_url;
    json_response(
        StatusCode::OK,
        json!({
            "issuer": b,
            "authorization_endpoint": format!("{b}/oauth/authorize"),
            "token_endpoint": format!("{b}/oauth/token"),
            "userinfo_endpoint": format!("{b}/v1/oidc/userinfo"),
            "jwks_uri": format!("{b}/.well-known/jwks.json"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"]
        }),
    )
}

pub(super) async fn kakao_jwks(State(s): Shared) -> Response {
    if let Some(r) = kakao_error(gate(&s, Service::KakaoLogin).await) {
        return r;
    }
    let key = json!({"kid": "meoktong-sim-1", "kty": "RSA", "alg": "RS256", "use": "sig", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"});
    json_response(StatusCode::OK, json!({"keys": [key]}))
}

pub(super) async fn kakao_map(State(s): Shared, headers: HeaderMap) -> Response {
    let mode = gate(&s, Service::KakaoMap).await;
    if let Some(r) = kakao_error(mode) {
        return r;
    }
    if !has_auth(&headers, "KakaoAK ") {
        return kakao_error(Mode::BadKey).unwrap_or_default();
    }
    let doc = json!({"address_name": "경기 성남시 분당구 삼평동 681", "x": "127.110449", "y": "37.4020589",
        "road_address": {"address_name": "경기 성남시 분당구 판교역로 235"}});
    json_response(
        StatusCode::OK,
        json!({"meta": {"total_count": 1, "pageable_count": 1, "is_end": true}, "documents": [doc]}),
    )
}

pub(super) async fn kakaopay_ready(State(s): Shared, headers: HeaderMap, body: String) -> Response {
    let mode = gate(&s, Service::KakaoPay).await;
    if let Some(r) = kakao_error(mode) {
        return r;
    }
    if !has_auth(&headers, "SECRET_KEY ") {
        return kakao_error(Mode::BadKey).unwrap_or_default();
    }
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if request.get("cid").and_then(Value::as_str).is_none() {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"code": -2, "msg": "cid is required"}),
        );
    }
    let b = &s.base_url;
    json_response(
        StatusCode::OK,
        json!({
            "tid": "T1234567890123456789",
            "next_redirect_pc_url": format!("{b}/online/v1/payment/redirect/pc"),
            "next_redirect_mobile_url": format!("{b}/online/v1/payment/redirect/mobile"),
            "created_at": "2022-10-15T15:33:00"
        }),
    )
}

pub(super) async fn talk_channel(State(s): Shared, Path(channel): Path<String>) -> Response {
    if !channel.starts_with('_') {
        return html_response(StatusCode::NOT_FOUND, "Not Found", "no such page");
    }
    match gate(&s, Service::KakaoTalkChannel).await {
        Mode::Down => html_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "일시적인 오류",
            "잠시 후 다시 시도해 주세요.",
        ),
        Mode::ProviderError => html_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "서비스 점검",
            "카카오톡 채널 서비스 점검 중입니다.",
        ),
        Mode::BadKey => html_response(StatusCode::UNAUTHORIZED, "Unauthorized", "unauthorized"),
        // Like the live page, it names the channel's own id (og:url).
        _ => html_response(
            StatusCode::OK,
            "카카오톡 채널",
            &format!(
                "<meta property=\"og:url\" content=\"{}/{channel}\">pf.kakao.com/{channel} — 먹통 시뮬레이터 채널 홈",
                s.base_url
            ),
        ),
    }
}

pub(super) async fn naver_authorize(State(s): Shared) -> Response {
    match gate(&s, Service::NaverLogin).await {
        Mode::Down => html_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "NAVER",
            "서비스 접속이 원활하지 않습니다.",
        ),
        Mode::ProviderError => html_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "NAVER",
            "일시적인 오류입니다.",
        ),
        Mode::BadKey => html_response(StatusCode::UNAUTHORIZED, "NAVER", "unauthorized client"),
        _ => html_response(
            StatusCode::OK,
            "네이버 : 로그인",
            "등록되지 않은 애플리케이션입니다. (simulated)",
        ),
    }
}

pub(super) async fn toss_order(
    State(s): Shared,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> Response {
    let toss = |status: StatusCode, code: &str, message: &str| {
        json_response(status, json!({"code": code, "message": message}))
    };
    let mode = gate(&s, Service::Toss).await;
    match mode {
        Mode::Down => toss(
            StatusCode::SERVICE_UNAVAILABLE,
            "FAILED_INTERNAL_SYSTEM_PROCESSING",
            "내부 시스템 처리 작업이 실패했습니다.",
        ),
        Mode::ProviderError => toss(
            StatusCode::INTERNAL_SERVER_ERROR,
            "PROVIDER_ERROR",
            "일시적인 오류가 발생했습니다.",
        ),
        _ if mode == Mode::BadKey || !has_auth(&headers, "Basic ") => toss(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED_KEY",
            "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.",
        ),
        _ => toss(
            StatusCode::NOT_FOUND,
            "NOT_FOUND_PAYMENT",
            &format!("존재하지 않는 결제 정보 입니다. ({order_id})"),
        ),
    }
}

pub(super) async fn twilio_summary(State(s): Shared) -> Response {
    match gate(&s, Service::TwilioStatus).await {
        Mode::Down => (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response(),
        // The status page itself answers, and says Twilio is failing.
        Mode::ProviderError => json_response(
            StatusCode::OK,
            json!({
                "page": {"id": "sim", "name": "Twilio (simulated)", "url": s.base_url},
                "status": {"indicator": "major", "description": "Partial System Outage"},
                "components": [], "incidents": [], "scheduled_maintenances": []
            }),
        ),
        Mode::BadKey => (StatusCode::UNAUTHORIZED, "Unauthorized").into_response(),
        _ => json_response(
            StatusCode::OK,
            json!({
                "page": {"id": "sim", "name": "Twilio (simulated)", "url": s.base_url},
                "status": {"indicator": "none", "description": "All Systems Operational"},
                "components": [], "incidents": [], "scheduled_maintenances": []
            }),
        ),
    }
}
