//! `/association/members`: an association's members — the CSV upload (the same importer and
//! messages as `meoktong merchant import`, all or nothing), the invite code merchants join
//! with, removal, and each member's subscriptions and contacts (masked, with whether each
//! number and address has been verified).
use super::{Nav, Staff, with_nav};
use crate::AppState;
use crate::error::WebError;
use crate::import::{self, AssociationRule, RowError, Scope};
use crate::views::dep_name;
use askama::Template;
use axum::extract::{Form, Multipart, Path, State};
use axum::response::{Redirect, Response};
use meoktong_storage::merchants::{self, ImportedBy};
use meoktong_storage::{catalog, members, now_ms};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// The largest members file accepted (about 20,000 rows).
pub const MAX_UPLOAD_BYTES: usize = 2 * 1024 * 1024;
/// Problems listed on the page; the rest are counted.
const MAX_SHOWN_ERRORS: usize = 50;

pub struct ContactRow {
    pub label: String,
    pub phone: String,
    pub phone_verified: bool,
    pub email: String,
    pub email_verified: bool,
}

pub struct MemberRow {
    pub id: i64,
    pub business_name: String,
    pub place: String,
    pub services: String,
    pub contacts: Vec<ContactRow>,
    pub joined: String,
}

#[derive(Template)]
#[template(path = "association/members.html")]
struct MembersPage {
    nav: Nav,
    members: Vec<MemberRow>,
    invite_code: String,
    join_link: String,
    errors: Vec<String>,
    more_errors: usize,
    summary: String,
}
with_nav!(MembersPage);

/// `/association`: the members page is the association's home.
pub async fn home(_staff: Staff) -> Redirect {
    Redirect::to("/association/members")
}

pub async fn page(
    State(state): State<AppState>,
    staff: Staff,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let l = staff.ctx.lang;
    let summary = match (q.get("created"), q.get("updated")) {
        (Some(c), Some(u)) => format!(
            "{} {} · {} {}",
            l.t("새 회원", "New members:"),
            c.parse::<u32>().unwrap_or_default(),
            l.t("갱신", "updated:"),
            u.parse::<u32>().unwrap_or_default()
        ),
        _ => String::new(),
    };
    render(&state, staff, Vec::new(), summary).await
}

async fn render(
    state: &AppState,
    staff: Staff,
    errors: Vec<RowError>,
    summary: String,
) -> Result<Response, WebError> {
    let l = staff.ctx.lang;
    let names: HashMap<String, String> = catalog::list_dependencies(&state.db)
        .await?
        .iter()
        .map(|d| (d.slug.clone(), dep_name(l, d)))
        .collect();
    let members = members::of_association(&state.db, &state.crypto, staff.association_id)
        .await?
        .into_iter()
        .map(|m| MemberRow {
            id: m.merchant_id,
            place: [m.region, m.trade]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · "),
            services: m
                .subscriptions
                .iter()
                .map(|s| names.get(s).cloned().unwrap_or_else(|| s.clone()))
                .collect::<Vec<_>>()
                .join(", "),
            contacts: m
                .contacts
                .into_iter()
                .map(|c| ContactRow {
                    label: if c.position == 0 {
                        l.t("대표", "Main").into()
                    } else {
                        format!("{} {}", l.t("연락처", "Contact"), c.position + 1)
                    },
                    phone: c.phone_masked.unwrap_or_default(),
                    phone_verified: c.phone_verified,
                    email: c.email_masked.unwrap_or_default(),
                    email_verified: c.email_verified,
                })
                .collect(),
            joined: staff.ctx.time(m.joined_at),
            business_name: m.business_name,
        })
        .collect();
    let invite_code = members::invite_code(&state.db, staff.association_id, &new_code()).await?;
    let join_link = format!(
        "{}/dashboard/associations?code={invite_code}",
        state.settings.server.public_url.trim_end_matches('/')
    );
    let failed = !errors.is_empty();
    let more_errors = errors.len().saturating_sub(MAX_SHOWN_ERRORS);
    let errors = errors
        .iter()
        .take(MAX_SHOWN_ERRORS)
        .map(ToString::to_string)
        .collect();
    let mut nav = staff.nav(state, String::new(), "members").await?;
    nav.title = format!("{} · {}", l.t("회원", "Members"), nav.association_name);
    let page = MembersPage {
        nav,
        members,
        invite_code,
        join_link,
        errors,
        more_errors,
        summary,
    };
    let html = page.render()?;
    Ok(if failed {
        staff.ctx.invalid(html)
    } else {
        staff.ctx.ok(html)
    })
}

/// A readable invite code: 10 characters of Crockford's base 32 (50 random bits), in two
/// groups, e.g. `K7M2Q-9XH4T`.
fn new_code() -> String {
    const DIGITS: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut bytes = [0u8; 10];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let chars: String = bytes
        .iter()
        .map(|b| DIGITS[usize::from(b % 32)] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// `POST /association/members/import` (multipart: `csrf`, `file`).
pub async fn import(
    State(state): State<AppState>,
    staff: Staff,
    mut multipart: Multipart,
) -> Result<Response, WebError> {
    let l = staff.ctx.lang;
    let too_large = || {
        WebError::TooLarge(
            l.t(
                "파일이 너무 큽니다(2MB까지).",
                "The file is too large (at most 2 MB).",
            )
            .into(),
        )
    };
    let (mut csrf, mut file) = (String::new(), None::<Vec<u8>>);
    while let Some(mut field) = multipart.next_field().await.map_err(|_| too_large())? {
        let name = field.name().unwrap_or_default().to_string();
        let mut buf = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|_| too_large())? {
            if buf.len() + chunk.len() > MAX_UPLOAD_BYTES {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&buf).into_owned(),
            "file" => file = Some(buf),
            _ => {}
        }
    }
    staff.csrf(&csrf)?;
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        let e = RowError {
            line: 0,
            field: "file".into(),
            reason: l.t("CSV 파일을 골라 주세요.", "Choose a CSV file.").into(),
        };
        return render(&state, staff, vec![e], String::new()).await;
    };
    let text = import::decode(&bytes);
    let association = members::association(&state.db, staff.association_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let known: HashSet<String> = catalog::list_dependencies(&state.db)
        .await?
        .into_iter()
        .map(|d| d.slug)
        .collect();
    let scope = Scope {
        known_slugs: &known,
        platform_domains: &state.settings.channels.platform_domains,
        associations: AssociationRule::Only(&association.name),
    };
    let rows = match import::parse_members(&text, &scope) {
        Ok(rows) => rows,
        Err(errors) => return render(&state, staff, errors, String::new()).await,
    };
    let others = not_ours(&state, staff.association_id, &rows, l).await?;
    if !others.is_empty() {
        return render(&state, staff, others, String::new()).await;
    }
    let records: Vec<_> = rows.into_iter().map(|r| r.record).collect();
    let into = vec![Some(staff.association_id); records.len()];
    let summary = merchants::import_members(
        &state.db,
        &state.crypto,
        &records,
        &into,
        ImportedBy::User(staff.user.user_id),
        now_ms(),
    )
    .await?;
    tracing::info!(
        association.id = staff.association_id,
        created = summary.created,
        updated = summary.updated,
        "members imported"
    );
    Ok(staff.ctx.redirect(&format!(
        "/association/members?done=imported&created={}&updated={}",
        summary.created, summary.updated
    )))
}

/// Rows naming a merchant who already uses Meoktong without being this association's member:
/// an upload must not rewrite someone else's shop. They join with the invite code instead.
async fn not_ours(
    state: &AppState,
    association_id: i64,
    rows: &[import::MemberRow],
    l: crate::i18n::Lang,
) -> Result<Vec<RowError>, WebError> {
    let ours: HashSet<i64> = members::member_ids(&state.db.conn, association_id)
        .await?
        .into_iter()
        .collect();
    let mut out = Vec::new();
    for row in rows {
        let r = &row.record;
        let found = merchants::find_by_phone(&state.db, &state.crypto, &r.phone).await?;
        if found
            .iter()
            .any(|m| m.business_name == r.business_name && !ours.contains(&m.id))
        {
            out.push(RowError {
                line: row.line,
                field: "business_name".into(),
                reason: l
                    .t(
                        "이미 먹통을 쓰는 가게입니다. 초대 코드로 직접 가입하도록 안내해 주세요.",
                        "this shop already uses Meoktong; ask it to join with your invite code",
                    )
                    .into(),
            });
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// `POST /association/members/{id}/remove`: ends the membership (audited); the merchant and
/// its alerts stay.
pub async fn remove(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    staff.csrf(&f.csrf)?;
    if !members::remove(
        &state.db,
        staff.association_id,
        id,
        staff.user.user_id,
        now_ms(),
    )
    .await?
    {
        return Err(WebError::NotFound);
    }
    Ok(staff.ctx.redirect("/association/members?done=removed"))
}

/// `POST /association/members/invite-code`: a new code; the old one stops working.
pub async fn rotate_code(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    staff.csrf(&f.csrf)?;
    members::set_invite_code(&state.db, staff.association_id, &new_code()).await?;
    meoktong_storage::audit::record(
        &state.db.conn,
        now_ms(),
        meoktong_storage::audit::AuditEntry {
            actor_user_id: Some(staff.user.user_id),
            actor: &format!("user:{}", staff.user.user_id),
            action: "association.invite_code.rotate",
            target_type: "association",
            target_id: Some(staff.association_id),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    Ok(staff.ctx.redirect("/association/members?done=code"))
}
