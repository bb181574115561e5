//! The text of notices: SMS, email subject and email body.
//!
//! A notice must be read at a glance by a shop owner mid-rush: a bracketed tag first (`[장애]`,
//! `[DOWN]`, …), what is down and since when, one line of what to do now, and the link to the
//! merchant's alert page. An SMS never passes two segments (throughput is counted in segments);
//! when it would, the action line goes first, then the names become a count, then the
//! greeting. The link always stays: it carries the playbook, the acknowledgement and, after a
//! recovery, the pre-filled damage report.
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Category;
use crate::Millis;
use crate::duration_text::{Locale, format_duration, format_since};
use crate::segments;

/// Most segments a notice SMS may take.
pub const MAX_SMS_SEGMENTS: usize = 2;

/// How long a notice SMS may be: a provider's own limit. Twilio's is two segments (throughput
/// is counted in segments); a Korean provider's is an LMS of 2,000 EUC-KR bytes, so the text
/// carries every name and the playbook line in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmsLimit {
    /// At most this many SMS segments (GSM-7 or UCS-2, see [`segments`]).
    Segments(usize),
    /// At most this many EUC-KR bytes (characters outside EUC-KR count as their replacement).
    EucKrBytes(usize),
}

impl SmsLimit {
    /// Twilio: [`MAX_SMS_SEGMENTS`].
    pub const TWO_SEGMENTS: SmsLimit = SmsLimit::Segments(MAX_SMS_SEGMENTS);
    /// Solapi and other Korean providers: one LMS.
    pub const LMS: SmsLimit = SmsLimit::EucKrBytes(crate::euc_kr::LMS_MAX_BYTES);

    /// True when `text` is within the limit.
    pub fn fits(self, text: &str) -> bool {
        match self {
            SmsLimit::Segments(n) => segments::fits(text, n),
            SmsLimit::EucKrBytes(n) => {
                let (clean, _) = crate::euc_kr::replace_unmappable(text);
                crate::euc_kr::byte_len(&clean).is_some_and(|b| b <= n)
            }
        }
    }
}

impl Default for SmsLimit {
    fn default() -> Self {
        SmsLimit::TWO_SEGMENTS
    }
}

/// What a notice tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Down,
    /// Down again within `reopen_window` of a recovery (same incident record).
    Relapse,
    /// "Also down: …" — confirmed after the merchant's first notice went out.
    #[serde(rename = "followup")]
    FollowUp,
    Recovery,
    /// Part of an outage event is back (for `partial_recovery_after`) while the rest is
    /// still down.
    PartialRecovery,
    /// A test the merchant asked for, to see their channel works.
    Test,
    /// The store's heartbeat stopped: its own internet is down.
    StoreOffline,
    StoreBack,
    /// A message an association's staff sent to its members (e.g. the filing deadline).
    Broadcast,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 9] = [
        NoticeKind::Down,
        NoticeKind::Relapse,
        NoticeKind::FollowUp,
        NoticeKind::Recovery,
        NoticeKind::PartialRecovery,
        NoticeKind::Test,
        NoticeKind::StoreOffline,
        NoticeKind::StoreBack,
        NoticeKind::Broadcast,
    ];

    /// The one spelling of a kind, as stored in `notices.kind` and sent in webhooks (`event`).
    pub fn as_str(self) -> &'static str {
        use NoticeKind::*;
        match self {
            Down => "down",
            Relapse => "relapse",
            FollowUp => "followup",
            Recovery => "recovery",
            PartialRecovery => "partial_recovery",
            Test => "test",
            StoreOffline => "store_offline",
            StoreBack => "store_back",
            Broadcast => "broadcast",
        }
    }

    /// The kind [`NoticeKind::as_str`] spells `s`; anything else is an error naming it.
    pub fn parse(s: &str) -> Result<NoticeKind, UnknownNoticeKind> {
        NoticeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownNoticeKind(s.to_string()))
    }

    /// An outage alert that waits for an acknowledgement (and escalates without one).
    /// Acknowledging one acknowledges every open one of the merchant's.
    pub fn is_outage_alert(self) -> bool {
        matches!(
            self,
            NoticeKind::Down | NoticeKind::FollowUp | NoticeKind::Relapse
        )
    }

    /// Waits for an acknowledgement: the outage alerts and a store gone offline.
    pub fn wants_ack(self) -> bool {
        self.is_outage_alert() || self == NoticeKind::StoreOffline
    }

    /// The bracketed tag a notice begins with, so it reads at a glance.
    pub fn tag(self, locale: Locale) -> &'static str {
        use NoticeKind::*;
        match self {
            Down => pick(locale, "[장애]", "[DOWN]"),
            Relapse => pick(locale, "[재장애]", "[DOWN AGAIN]"),
            FollowUp => pick(locale, "[장애 추가]", "[ALSO DOWN]"),
            Recovery => pick(locale, "[복구]", "[RECOVERED]"),
            PartialRecovery => pick(locale, "[일부 복구]", "[PARTLY BACK]"),
            Test => pick(locale, "[테스트]", "[TEST]"),
            StoreOffline => pick(locale, "[매장 인터넷]", "[STORE OFFLINE]"),
            StoreBack => pick(locale, "[매장 인터넷 복구]", "[STORE BACK ONLINE]"),
            Broadcast => pick(locale, "[공지]", "[NOTICE]"),
        }
    }

    /// The tag of a notice about a slowdown (every incident it tells is `degraded`): its
    /// own words, so a slow service never reads as an outage. A recovery keeps `[복구]` (its
    /// sentence says the speed is back); tests and the store's internet have no slow form.
    pub fn slow_tag(self, locale: Locale) -> &'static str {
        use NoticeKind::*;
        match self {
            Down => pick(locale, "[느림]", "[SLOW]"),
            Relapse => pick(locale, "[다시 느림]", "[SLOW AGAIN]"),
            FollowUp => pick(locale, "[느림 추가]", "[ALSO SLOW]"),
            Recovery | PartialRecovery | Test | StoreOffline | StoreBack | Broadcast => {
                self.tag(locale)
            }
        }
    }

    /// Has words of its own for a slowdown: the outage alerts and the recoveries.
    pub fn has_slow_form(self) -> bool {
        self.is_outage_alert() || matches!(self, NoticeKind::Recovery | NoticeKind::PartialRecovery)
    }

    /// [`NoticeKind::slow_tag`] when `slow`, else [`NoticeKind::tag`].
    pub fn tag_for(self, slow: bool, locale: Locale) -> &'static str {
        if slow {
            self.slow_tag(locale)
        } else {
            self.tag(locale)
        }
    }

    /// Tells that something is back (with the outage's length and the damage report).
    pub fn is_back(self) -> bool {
        matches!(
            self,
            NoticeKind::Recovery | NoticeKind::PartialRecovery | NoticeKind::StoreBack
        )
    }
}

/// A stored notice kind that is none of [`NoticeKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown notice kind {0:?}")]
pub struct UnknownNoticeKind(pub String);

/// A dependency as a notice names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeDep {
    pub name: String,
    pub name_en: Option<String>,
    pub category: Category,
}

/// Everything a notice's text is made from. Time comes in; nothing is read from a clock.
#[derive(Debug, Clone, PartialEq)]
pub struct NoticeInput {
    pub kind: NoticeKind,
    pub locale: Locale,
    /// In the order they went down; the first decides the default action line.
    pub deps: Vec<NoticeDep>,
    /// Incident start (first failed probe), or the store's last heartbeat.
    pub since: Millis,
    pub now: Millis,
    pub tz: chrono_tz::Tz,
    /// Measured outage, for recoveries; `now - since` when absent.
    pub outage: Option<Duration>,
    /// The merchant's own one-line instruction, overriding the category default.
    pub playbook_line: Option<String>,
    /// `{public_url}/a/{token}`.
    pub link: String,
    /// What is still down, for a partial recovery.
    pub still_down: Vec<NoticeDep>,
    /// Every incident told (and still down) is a slowdown (`degraded`), none an outage: the
    /// texts say "slow" (`[느림]`), not "down", and the action line is the slowdown's
    /// ([`slow_playbook_line`]; the merchant's own playbook is written for outages).
    pub slow: bool,
    /// The outage is maintenance (a scheduled window here, or the provider's own maintenance
    /// answer such as Kakao `-9798`): `[점검]` / `[MAINTENANCE]` and "under maintenance",
    /// with the outage's action line (phone orders are still needed).
    pub maintenance: bool,
}

/// How the dependencies are named in one variant of the text.
#[derive(Clone, Copy, PartialEq)]
enum Names {
    List,
    Count,
}

/// The SMS, within [`MAX_SMS_SEGMENTS`] whenever the link allows it.
pub fn sms_text(input: &NoticeInput) -> String {
    sms_text_within(input, SmsLimit::TWO_SEGMENTS)
}

/// The SMS within a provider's `limit` whenever the link allows it: the fullest variant that
/// fits (names listed, the action line, the greeting), then shorter ones in order.
pub fn sms_text_within(input: &NoticeInput, limit: SmsLimit) -> String {
    let variants = [
        (Names::List, true, true),
        (Names::List, false, true),
        (Names::Count, false, true),
        (Names::Count, false, false),
    ];
    let mut text = String::new();
    for (names, action, greeting) in variants {
        text = compose(input, names, action, greeting);
        if limit.fits(&text) {
            break;
        }
    }
    text
}

/// One line of what to do now, for the SMS.
pub fn default_playbook_line(category: Category, locale: Locale) -> &'static str {
    use Category::*;
    match (category, locale) {
        (Messenger, Locale::Ko) => "주문은 전화로 받아 주세요.",
        (Messenger, Locale::En) => "Take orders by phone.",
        (Payment, Locale::Ko) => "카드 단말기, 현금, 계좌이체로 결제받으세요.",
        (Payment, Locale::En) => "Use the card terminal, cash or bank transfer.",
        (Map | Delivery, Locale::Ko) => "배달 기사님께 주소를 직접 알려 주세요.",
        (Map | Delivery, Locale::En) => "Give riders the addresses by hand.",
        (Network, Locale::Ko) => "카드 단말기를 LTE 라우터로 연결하세요.",
        (Network, Locale::En) => "Switch the card terminal to the LTE router.",
        (Login, Locale::Ko) => "손님께 전화 주문이나 비회원 주문을 안내하세요.",
        (Login, Locale::En) => "Ask customers to order by phone or as guests.",
        (Other, Locale::Ko) => "수기 주문으로 전환하세요.",
        (Other, Locale::En) => "Switch to manual ordering.",
    }
}

/// One line of what to do while a dependency of `category` is slow (not down).
pub fn slow_playbook_line(category: Category, locale: Locale) -> &'static str {
    use Category::*;
    match (category, locale) {
        (Messenger, Locale::Ko) => "주문이 늦게 올 수 있어요. 전화 주문도 받아 주세요.",
        (Messenger, Locale::En) => "Orders may arrive late; take phone orders too.",
        (Payment, Locale::Ko) => "결제가 늦으면 카드 단말기나 현금을 안내하세요.",
        (Payment, Locale::En) => "If payment hangs, offer the terminal or cash.",
        (Map | Delivery, Locale::Ko) => "배달이 늦을 수 있다고 손님께 알려 주세요.",
        (Map | Delivery, Locale::En) => "Tell customers delivery may be late.",
        (Network, Locale::Ko) => "결제가 늦으면 카드 단말기를 LTE로 연결하세요.",
        (Network, Locale::En) => "If payments hang, switch the terminal to LTE.",
        (Login, Locale::Ko) => "로그인이 늦으면 전화·비회원 주문을 안내하세요.",
        (Login, Locale::En) => "If sign-in hangs, offer phone or guest orders.",
        (Other, Locale::Ko) => "늦어지면 수기 주문으로 받을 준비를 해 두세요.",
        (Other, Locale::En) => "Keep manual ordering ready in case it stalls.",
    }
}

/// The whole default playbook of a category, for the alert page and the email.
pub fn default_playbook_text(category: Category, locale: Locale) -> &'static str {
    use Category::*;
    match (category, locale) {
        (Messenger, Locale::Ko) => {
            "1. 메신저(카카오톡 채널 등)로 오던 주문이 보이지 않을 수 있습니다. 매장 전화로 주문을 받으세요.\n\
            2. 매장 앞과 SNS에 \"전화 주문 가능\" 안내를 올려 주세요.\n\
            3. 주문은 수기 주문서에 적어 두고, 복구 후 빠진 주문이 없는지 확인하세요."
        }
        (Messenger, Locale::En) => {
            "1. Orders sent through the messenger (e.g. KakaoTalk channels) may not arrive. Take orders on the shop phone.\n\
            2. Put up a \"phone orders welcome\" notice at the door and on social media.\n\
            3. Write orders on the manual order sheet; after recovery, check that none were missed."
        }
        (Payment, Locale::Ko) => {
            "1. 간편결제가 안 되면 카드 단말기, 현금, 계좌이체로 결제받으세요.\n\
            2. 계좌이체는 입금자명과 금액을 주문서에 적어 두세요.\n\
            3. 결제 중 오류가 난 주문은 복구 후 결제 내역을 꼭 다시 확인하세요(이중 결제, 미결제).\n\
            4. 계산대에 \"현금·계좌이체 가능\" 안내를 붙여 주세요."
        }
        (Payment, Locale::En) => {
            "1. If mobile payment fails, take the card terminal, cash or bank transfer.\n\
            2. For transfers, note the sender's name and amount on the order sheet.\n\
            3. After recovery, check every order that failed mid-payment (double or missing charges).\n\
            4. Put a \"cash and transfer welcome\" notice at the counter."
        }
        (Map | Delivery, Locale::Ko) => {
            "1. 배달 앱이나 배달 대행의 지도·거리 계산이 멈출 수 있습니다. 전화 주문을 받아 주세요.\n\
            2. 기사님께 도로명 주소, 건물 이름, 손님 연락처를 직접 알려 주세요.\n\
            3. 배달비는 미리 정한 거리별 요금으로 안내하세요.\n\
            4. 배달이 늦어질 수 있다고 손님께 미리 알려 주세요."
        }
        (Map | Delivery, Locale::En) => {
            "1. Delivery apps and dispatch maps may stop working. Take orders by phone.\n\
            2. Give riders the street address, building name and customer's number by hand.\n\
            3. Quote delivery fees from your own distance table.\n\
            4. Tell customers up front that delivery may be slower."
        }
        (Network, Locale::Ko) => {
            "1. 매장 인터넷이 끊겼습니다. 카드 단말기를 LTE 라우터(또는 휴대폰 핫스팟)에 연결하세요.\n\
            2. 포스(POS)가 멈췄다면 단말기로 결제받고 영수증을 모아 두세요.\n\
            3. 인터넷 통신사 고객센터에 장애를 신고하세요.\n\
            4. 복구 후 포스 매출과 단말기 승인 내역을 맞춰 보세요."
        }
        (Network, Locale::En) => {
            "1. The store's internet is down. Connect the card terminal to the LTE router (or a phone hotspot).\n\
            2. If the POS is stuck, take payments on the terminal and keep the receipts.\n\
            3. Report the outage to your internet provider.\n\
            4. After recovery, reconcile POS sales with the terminal's approvals."
        }
        (Login, Locale::Ko) => {
            "1. 간편 로그인(카카오 로그인 등)이 안 되어 손님이 주문하지 못할 수 있습니다.\n\
            2. 전화 주문이나 비회원 주문을 안내하세요.\n\
            3. 매장 앱이나 웹에 \"전화 주문 가능\" 공지를 올려 주세요."
        }
        (Login, Locale::En) => {
            "1. Customers may be unable to sign in (e.g. Kakao Login) and so unable to order.\n\
            2. Point them to phone orders or guest checkout.\n\
            3. Post a \"phone orders welcome\" notice on your app or website."
        }
        (Other, Locale::Ko) => {
            "1. 평소 쓰던 방식 대신 수기 주문으로 전환하세요.\n\
            2. 주문서에 시간, 메뉴, 연락처, 결제 방법을 적어 두세요.\n\
            3. 복구 후 빠진 주문이 없는지 확인하세요."
        }
        (Other, Locale::En) => {
            "1. Switch to manual ordering.\n\
            2. Write down time, items, contact and payment method for each order.\n\
            3. After recovery, check that no order was missed."
        }
    }
}

/// What a category is called on pages and in the email, in words (never the config slug).
pub fn category_label(category: Category, locale: Locale) -> &'static str {
    use Category::*;
    let ko = match category {
        Messenger => "메신저",
        Login => "로그인",
        Payment => "결제",
        Map => "지도",
        Delivery => "배달",
        Network => "인터넷",
        Other => "기타",
    };
    // Words, never the stored slug (`messenger`), in English too.
    let en = match category {
        Messenger => "Messenger",
        Login => "Login",
        Payment => "Payments",
        Map => "Maps",
        Delivery => "Delivery",
        Network => "Internet",
        Other => "Other",
    };
    pick(locale, ko, en)
}

/// `[장애] 15:20부터 카카오톡 장애 중입니다.` — the headline, names in full unless long.
pub fn email_subject(input: &NoticeInput) -> String {
    let names = if name_list(input).chars().count() > 60 {
        Names::Count
    } else {
        Names::List
    };
    format!("{} {}", notice_tag(input), body(input, names, false))
}

/// The tag this notice begins with: a slowdown's own ([`NoticeKind::slow_tag`]) when
/// [`NoticeInput::slow`].
pub fn notice_tag(input: &NoticeInput) -> &'static str {
    if input.maintenance && input.kind.is_outage_alert() {
        return pick(input.locale, "[점검]", "[MAINTENANCE]");
    }
    input.kind.tag_for(input.slow, input.locale)
}

/// The email: everything the SMS says, the list of what is down, the whole playbook (the
/// merchant's own, or the category default when `full_playbook` is blank) and the link.
pub fn email_text(input: &NoticeInput, full_playbook: &str) -> String {
    let l = input.locale;
    let mut out = pick(
        l,
        "사장님, 안녕하세요. 먹통 알림입니다.\n\n",
        "Hello, this is Meoktong.\n\n",
    )
    .to_owned();
    out.push_str(&body(input, Names::List, false));
    out.push_str("\n\n");
    for dep in &input.deps {
        let label = category_label(dep.category, l);
        out.push_str(&format!("- {} ({label})\n", dep_name(dep, l)));
    }
    let since = format_since(l, input.since, input.now, input.tz);
    out.push_str(&format!(
        "{} {since} ({})\n",
        pick(l, "시작:", "Since:"),
        input.tz.name()
    ));
    if input.kind.is_back() {
        let d = format_duration(l, outage(input));
        let label = match input.slow && input.kind.has_slow_form() {
            true => pick(l, "느렸던 시간:", "Slow for:"),
            false => pick(l, "장애 시간:", "Outage:"),
        };
        out.push_str(&format!("{label} {d}\n\n"));
        out.push_str(pick(
            l,
            "피해 신고: 측정된 장애 시간이 채워진 신고서를 아래 링크에서 작성하실 수 있습니다.\n",
            "Damage report: the link below opens a report with the measured outage filled in.\n",
        ));
    } else {
        out.push_str(pick(l, "\n지금 하실 일:\n", "\nWhat to do now:\n"));
        if let Some(line) = action_line(input).filter(|_| input.slow && input.kind.has_slow_form())
        {
            out.push_str(&format!("{line}\n"));
            out.push_str(pick(
                l,
                "\n멈추면 이렇게 하세요:\n",
                "\nIf it stops altogether:\n",
            ));
        } else if let Some(line) = input.playbook_line.as_deref().map(str::trim)
            && !line.is_empty()
        {
            out.push_str(&format!("{line}\n"));
        }
        out.push_str(match full_playbook.trim() {
            "" => default_playbook_text(action_category(input), l),
            own => own,
        });
        out.push('\n');
    }
    let link_label = pick(
        l,
        "확인, 대처 방법, 수기 주문서:",
        "Acknowledge, playbook, manual order sheet:",
    );
    out.push_str(&format!("\n{link_label} {}\n", input.link));
    out
}

/// One candidate SMS text.
fn compose(input: &NoticeInput, names: Names, with_action: bool, greeting: bool) -> String {
    let mut text = format!("{} {}", notice_tag(input), body(input, names, greeting));
    if let Some(action) = action_line(input).filter(|_| with_action) {
        text.push(' ');
        text.push_str(action);
    }
    text.push(' ');
    text.push_str(&input.link);
    text
}

/// The sentence after the tag: what happened to what, since when or for how long.
fn body(input: &NoticeInput, names: Names, greeting: bool) -> String {
    use NoticeKind::*;
    let n = match names {
        _ if input.deps.is_empty() && input.kind != Test => {
            pick(input.locale, "서비스", "Service").to_owned()
        }
        Names::List => name_list(input),
        Names::Count => name_count(input),
    };
    let s = format_since(input.locale, input.since, input.now, input.tz);
    let d = format_duration(input.locale, outage(input));
    let sentence = match (input.locale, input.slow) {
        (Locale::Ko, true) if input.kind.has_slow_form() => slow_sentence_ko(input, &n, &s, &d),
        (Locale::En, true) if input.kind.has_slow_form() => slow_sentence_en(input, &n, &s, &d),
        (Locale::Ko, _) if input.maintenance && input.kind.is_outage_alert() => {
            format!("{s}부터 {n} 점검 중입니다.")
        }
        (Locale::En, _) if input.maintenance && input.kind.is_outage_alert() => {
            format!("{n} under maintenance since {s}.")
        }
        (Locale::Ko, _) => match input.kind {
            Down => format!("{s}부터 {n} 장애 중입니다."),
            Relapse => format!("{s}부터 {n} 다시 장애 중입니다."),
            FollowUp => format!("{s}부터 {n}도 장애 중입니다."),
            Recovery => format!("{n}{} 복구되었습니다(장애 {d}).", subject_particle(&n)),
            PartialRecovery => format!(
                "{n}{} 복구되었습니다(장애 {d}). {}{} 아직 장애 중입니다.",
                subject_particle(&n),
                still_down_names(input),
                topic_particle(&still_down_names(input))
            ),
            Test if n.is_empty() => {
                "먹통 알림 테스트입니다. 장애가 나면 이렇게 알려 드립니다.".into()
            }
            Test => format!("먹통 알림 테스트입니다. {n} 장애 시 이렇게 알려 드립니다."),
            StoreOffline => format!("{s}부터 매장 인터넷 신호가 끊겼습니다."),
            StoreBack => format!("매장 인터넷이 다시 연결되었습니다(끊김 {d})."),
            // A broadcast's text is its sender's (see `broadcast_text`).
            Broadcast => String::new(),
        },
        (Locale::En, _) => match input.kind {
            Down => format!("{n} down since {s}."),
            Relapse => format!("{n} down again since {s}."),
            FollowUp => format!("{n} also down since {s}."),
            Recovery => format!("{n} back to normal (down {d})."),
            PartialRecovery => format!(
                "{n} back to normal (down {d}); {} still down.",
                still_down_names(input)
            ),
            Test if n.is_empty() => "Meoktong test alert. Outages will reach you like this.".into(),
            Test => format!("Meoktong test alert. Outages of {n} will reach you like this."),
            StoreOffline => format!("Store internet down since {s}."),
            StoreBack => format!("Your store's internet is back (offline {d})."),
            Broadcast => String::new(),
        },
    };
    match (greeting, input.locale) {
        (true, Locale::Ko) => format!("사장님, {sentence}"),
        _ => sentence,
    }
}

/// A slowdown's sentence in Korean: `15:20부터 카카오페이가 느립니다.`
fn slow_sentence_ko(input: &NoticeInput, n: &str, s: &str, d: &str) -> String {
    use NoticeKind::*;
    let p = subject_particle(n);
    match input.kind {
        Relapse => format!("{s}부터 {n}{p} 다시 느립니다."),
        FollowUp => format!("{s}부터 {n}도 느립니다."),
        Recovery => format!("{n} 속도가 정상으로 돌아왔습니다(느림 {d})."),
        PartialRecovery => {
            let rest = still_down_names(input);
            format!(
                "{n} 속도가 정상으로 돌아왔습니다(느림 {d}). {rest}{} 아직 느립니다.",
                topic_particle(&rest)
            )
        }
        _ => format!("{s}부터 {n}{p} 느립니다."),
    }
}

/// A slowdown's sentence in English: `KakaoPay is slow (since 15:20).`
fn slow_sentence_en(input: &NoticeInput, n: &str, s: &str, d: &str) -> String {
    use NoticeKind::*;
    let verb = if input.deps.len() > 1 { "are" } else { "is" };
    match input.kind {
        Relapse => format!("{n} {verb} slow again (since {s})."),
        FollowUp => format!("{n} {verb} also slow (since {s})."),
        Recovery => format!("{n} back to normal speed (slow {d})."),
        PartialRecovery => format!(
            "{n} back to normal speed (slow {d}); {} still slow.",
            still_down_names(input)
        ),
        _ => format!("{n} {verb} slow (since {s})."),
    }
}

/// The line of what to do now, if the kind has one. A recovery's is the damage report, whatever
/// the merchant's playbook says.
fn action_line(input: &NoticeInput) -> Option<&str> {
    use NoticeKind::*;
    let l = input.locale;
    match input.kind {
        Down | Relapse | FollowUp if input.slow => {
            Some(slow_playbook_line(action_category(input), l))
        }
        PartialRecovery if input.slow => Some(
            input
                .still_down
                .first()
                .map_or(slow_playbook_line(Category::Other, l), |d| {
                    slow_playbook_line(d.category, l)
                }),
        ),
        Down | Relapse | FollowUp | StoreOffline => {
            Some(match input.playbook_line.as_deref().map(str::trim) {
                Some(own) if !own.is_empty() => own,
                _ => default_playbook_line(action_category(input), l),
            })
        }
        Recovery => Some(pick(
            l,
            "피해 신고는 링크에서 하세요.",
            "Report damage at the link:",
        )),
        PartialRecovery => Some(match input.playbook_line.as_deref().map(str::trim) {
            Some(own) if !own.is_empty() => own,
            _ => input
                .still_down
                .first()
                .map_or(default_playbook_line(Category::Other, l), |d| {
                    default_playbook_line(d.category, l)
                }),
        }),
        Test => Some(pick(
            l,
            "링크에서 확인을 눌러 주세요.",
            "Open the link to confirm:",
        )),
        StoreBack | Broadcast => None,
    }
}

/// A broadcast from an association to its members: `[공지] 마포상인회: {text}` (the sender's
/// name first, so a member knows who writes), one line, no link.
pub fn broadcast_text(locale: Locale, association: &str, text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "{} {association}: {text}",
        NoticeKind::Broadcast.tag(locale)
    )
}

fn pick(locale: Locale, ko: &'static str, en: &'static str) -> &'static str {
    match locale {
        Locale::Ko => ko,
        Locale::En => en,
    }
}

fn action_category(input: &NoticeInput) -> Category {
    match input.kind {
        NoticeKind::StoreOffline | NoticeKind::StoreBack => Category::Network,
        _ => input.deps.first().map_or(Category::Other, |d| d.category),
    }
}

fn outage(input: &NoticeInput) -> Duration {
    input.outage.unwrap_or_else(|| {
        Duration::from_millis(u64::try_from(input.now.saturating_sub(input.since)).unwrap_or(0))
    })
}

fn dep_name(dep: &NoticeDep, locale: Locale) -> &str {
    match (locale, dep.name_en.as_deref()) {
        (Locale::En, Some(en)) if !en.trim().is_empty() => en.trim(),
        _ => dep.name.trim(),
    }
}

fn names(input: &NoticeInput) -> Vec<&str> {
    input
        .deps
        .iter()
        .map(|d| dep_name(d, input.locale))
        .collect()
}

/// The names of what is still down (a partial recovery), in full.
fn still_down_names(input: &NoticeInput) -> String {
    input
        .still_down
        .iter()
        .map(|d| dep_name(d, input.locale).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn name_list(input: &NoticeInput) -> String {
    names(input).join(", ")
}

/// `카카오 서비스 4개` / `4 Kakao services`, or without the platform word when the names
/// share no word-like prefix.
fn name_count(input: &NoticeInput) -> String {
    let names = names(input);
    let n = names.len();
    let platform = if n > 1 { common_word(&names) } else { None };
    match (input.locale, platform) {
        (Locale::Ko, Some(p)) => format!("{p} 서비스 {n}개"),
        (Locale::Ko, None) => format!("서비스 {n}개"),
        (Locale::En, p) => {
            let p = p.map(|p| format!("{p} ")).unwrap_or_default();
            format!("{n} {p}service{}", if n == 1 { "" } else { "s" })
        }
    }
}

/// The longest prefix all names share that ends at a word boundary in each of them
/// (`카카오톡`/`카카오 로그인` → `카카오`, `KakaoTalk`/`Kakao Map` → `Kakao`,
/// `Toss Payments`/`Toss Place` → `Toss`), if it has at least two letters.
fn common_word(names: &[&str]) -> Option<String> {
    let chars: Vec<Vec<char>> = names.iter().map(|n| n.chars().collect()).collect();
    let first = chars.first()?;
    let mut len = (0..first.len())
        .take_while(|&i| chars.iter().all(|c| c.get(i) == Some(&first[i])))
        .count();
    let boundary = |c: &Vec<char>, at: usize| match (c.get(at - 1), c.get(at)) {
        (_, None) => true,
        (Some(a), Some(b)) => {
            !(a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric())
                || (a.is_ascii_lowercase() && b.is_ascii_uppercase())
        }
        (None, Some(_)) => false,
    };
    while len > 0 && !chars.iter().all(|c| boundary(c, len)) {
        len -= 1;
    }
    let word: String = first[..len].iter().collect::<String>().trim().to_owned();
    (word.chars().filter(|c| c.is_alphabetic()).count() >= 2).then_some(word)
}

/// `이` after a final consonant, `가` after a vowel; `이(가)` when the last character gives no
/// clue (Latin letters, symbols).
fn subject_particle(word: &str) -> &'static str {
    match word.trim_end().chars().last() {
        Some(c @ '가'..='힣') if !(c as u32 - 0xAC00).is_multiple_of(28) => "이",
        Some('가'..='힣' | '2' | '4' | '5' | '9') => "가",
        Some('0' | '1' | '3' | '6' | '7' | '8') => "이",
        _ => "이(가)",
    }
}

/// `은` after a final consonant, else `는` (`카카오페이는`, `카카오 로그인은`).
fn topic_particle(word: &str) -> &'static str {
    match word.trim_end().chars().last() {
        Some(c @ '가'..='힣') if !(c as u32 - 0xAC00).is_multiple_of(28) => "은",
        Some('가'..='힣' | '2' | '4' | '5' | '9') => "는",
        Some('0' | '1' | '3' | '6' | '7' | '8') => "은",
        _ => "은(는)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segments::{SmsEncoding, count_segments};

    #[test]
    fn kinds_have_one_spelling_and_unknown_ones_are_errors() {
        for k in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(k.as_str()), Ok(k));
            let json = serde_json::to_string(&k).unwrap_or_default();
            assert_eq!(
                json,
                format!("\"{}\"", k.as_str()),
                "serde agrees with as_str"
            );
        }
        assert_eq!(
            NoticeKind::parse("follow_up"),
            Err(UnknownNoticeKind("follow_up".into()))
        );
        assert!(NoticeKind::parse("").is_err());
    }

    /// 2022-10-15 15:20 KST.
    const FIRE: Millis = 1_665_814_800_000;
    const LINK: &str = "https://meoktong.example/a/Xq3vT9kLm2Pw8RzA5bYc7d";

    fn dep(name: &str, en: &str, category: Category) -> NoticeDep {
        NoticeDep {
            name: name.into(),
            name_en: Some(en.into()),
            category,
        }
    }

    fn fire(kind: NoticeKind, locale: Locale) -> NoticeInput {
        NoticeInput {
            kind,
            locale,
            deps: vec![
                dep("카카오톡", "KakaoTalk", Category::Messenger),
                dep("카카오 로그인", "Kakao Login", Category::Login),
                dep("카카오페이", "KakaoPay", Category::Payment),
                dep("카카오맵", "Kakao Map", Category::Map),
            ],
            since: FIRE,
            now: FIRE + 12_000,
            tz: chrono_tz::Asia::Seoul,
            outage: None,
            playbook_line: None,
            link: LINK.into(),
            still_down: Vec::new(),
            slow: false,
            maintenance: false,
        }
    }

    #[test]
    fn partial_recovery_names_what_is_back_and_what_is_still_down() {
        let mut input = fire(NoticeKind::PartialRecovery, Locale::Ko);
        input.deps = vec![dep("카카오 로그인", "Kakao Login", Category::Login)];
        input.still_down = vec![dep("카카오페이", "KakaoPay", Category::Payment)];
        input.outage = Some(Duration::from_secs(12 * 60));
        let text = sms_text(&input);
        assert_fits(&text);
        assert!(
            text.starts_with("[일부 복구] "),
            "a partial recovery reads as one at a glance: {text}"
        );
        assert!(
            text.contains("카카오 로그인이 복구되었습니다(장애 12분)"),
            "{text}"
        );
        assert!(text.contains("카카오페이는 아직 장애 중입니다."), "{text}");
        assert!(
            text.contains(default_playbook_line(Category::Payment, Locale::Ko)),
            "what to do now is still about what is down: {text}"
        );
        input.locale = Locale::En;
        let en = sms_text(&input);
        assert!(
            en.starts_with(
                "[PARTLY BACK] Kakao Login back to normal (down 12m); KakaoPay still down."
            ),
            "{en}"
        );
    }

    fn assert_fits(text: &str) {
        let c = count_segments(text);
        assert!(c.segments <= MAX_SMS_SEGMENTS, "{c:?}: {text}");
        assert!(text.ends_with(LINK), "{text}");
    }

    #[test]
    fn kakao_fire_notice_in_korean() {
        let text = sms_text(&fire(NoticeKind::Down, Locale::Ko));
        assert_fits(&text);
        assert!(text.starts_with("[장애] "), "{text}");
        assert_eq!(
            text,
            format!(
                "[장애] 사장님, 15:20부터 카카오톡, 카카오 로그인, 카카오페이, 카카오맵 장애 중입니다. 주문은 전화로 받아 주세요. {LINK}"
            )
        );
        assert_eq!(count_segments(&text).segments, 2);
    }

    #[test]
    fn short_notice_keeps_the_action_line() {
        let mut input = fire(NoticeKind::Down, Locale::Ko);
        input.deps.truncate(1);
        let text = sms_text(&input);
        assert_eq!(
            text,
            format!(
                "[장애] 사장님, 15:20부터 카카오톡 장애 중입니다. 주문은 전화로 받아 주세요. {LINK}"
            )
        );
        input.playbook_line = Some("  배민으로 주문 받기 ".into());
        assert!(sms_text(&input).contains("장애 중입니다. 배민으로 주문 받기 https://"));
    }

    #[test]
    fn long_dependency_list_degrades_to_a_count() {
        let mut input = fire(NoticeKind::Down, Locale::Ko);
        let more = [
            ("카카오T", "Kakao T"),
            ("카카오 선물하기", "Kakao Gift"),
            ("카카오톡 채널", "KakaoTalk Channel"),
        ];
        for (ko, en) in more {
            input.deps.push(dep(ko, en, Category::Other));
        }
        // First the action line goes.
        let text = sms_text(&input);
        assert_fits(&text);
        assert!(text.contains("카카오T, 카카오 선물하기, 카카오톡 채널 장애 중입니다. https://"));
        // Then the names become a count.
        for (ko, en) in [
            ("카카오 쇼핑하기", "Kakao Shopping"),
            ("카카오뱅크", "KakaoBank"),
        ] {
            input.deps.push(dep(ko, en, Category::Payment));
        }
        let text = sms_text(&input);
        assert_fits(&text);
        let expected = format!("[장애] 사장님, 15:20부터 카카오 서비스 9개 장애 중입니다. {LINK}");
        assert_eq!(text, expected);
        let toss = dep("토스페이먼츠", "Toss Payments", Category::Payment);
        input.deps.push(toss);
        assert!(sms_text(&input).contains("15:20부터 서비스 10개 장애"));
        // The link always stays, even when it alone is long.
        input.locale = Locale::En;
        input.link = format!("{LINK}{}", "x".repeat(200));
        let text = sms_text(&input);
        assert!(
            text.starts_with("[DOWN] 10 services down since 15:20. https://"),
            "{text}"
        );
        assert!(text.ends_with(&input.link));
    }

    #[test]
    fn english_variants() {
        let text = sms_text(&fire(NoticeKind::Down, Locale::En));
        assert_eq!(count_segments(&text).encoding, SmsEncoding::Gsm7);
        assert_eq!(
            text,
            format!(
                "[DOWN] KakaoTalk, Kakao Login, KakaoPay, Kakao Map down since 15:20. Take orders by phone. {LINK}"
            )
        );
        let text = sms_text(&fire(NoticeKind::Relapse, Locale::En));
        assert!(text.starts_with("[DOWN AGAIN] KakaoTalk,"), "{text}");
        let mut input = fire(NoticeKind::FollowUp, Locale::En);
        input.deps[0].name_en = None;
        let text = sms_text(&input);
        assert!(
            text.starts_with("[ALSO DOWN] 카카오톡, Kakao Login"),
            "{text}"
        );
        assert_fits(&text);
    }

    #[test]
    fn recovery_includes_the_duration() {
        let mut input = fire(NoticeKind::Recovery, Locale::Ko);
        input.outage = Some(Duration::from_secs(2 * 3600 + 5 * 60));
        let text = sms_text(&input);
        assert_fits(&text);
        assert!(text.starts_with("[복구] "), "{text}");
        assert!(text.contains("장애 2시간 5분"), "{text}");
        input.deps.truncate(1);
        assert!(sms_text(&input).contains("카카오톡이 복구되었습니다"));
        input.locale = Locale::En;
        input.outage = None;
        input.now = FIRE + 45 * 60_000;
        let text = sms_text(&input);
        assert_eq!(
            text,
            format!(
                "[RECOVERED] KakaoTalk back to normal (down 45m). Report damage at the link: {LINK}"
            )
        );
    }

    #[test]
    fn an_lms_limit_keeps_every_name_and_the_playbook_line() {
        let mut input = fire(NoticeKind::Down, Locale::Ko);
        for (ko, en) in [
            ("카카오T", "Kakao T"),
            ("카카오 선물하기", "Kakao Gift"),
            ("카카오톡 채널", "KakaoTalk Channel"),
        ] {
            input.deps.push(dep(ko, en, Category::Other));
        }
        input.playbook_line =
            Some("전화 주문은 010-1234-5678로 받고, 배민 주문은 태블릿에서 확인하세요.".into());
        let twilio = sms_text_within(&input, SmsLimit::TWO_SEGMENTS);
        assert_eq!(twilio, sms_text(&input));
        assert!(!twilio.contains("태블릿"), "{twilio}");
        let lms = sms_text_within(&input, SmsLimit::LMS);
        assert!(lms.contains("카카오톡 채널 장애 중입니다."), "{lms}");
        assert!(
            lms.contains("배민 주문은 태블릿에서 확인하세요. https://"),
            "{lms}"
        );
        assert!(lms.starts_with("[장애] 사장님, "), "{lms}");
        assert!(SmsLimit::LMS.fits(&lms));
        assert!(!SmsLimit::TWO_SEGMENTS.fits(&lms));
        assert!(SmsLimit::EucKrBytes(90).fits(&"가".repeat(45)));
        assert!(!SmsLimit::EucKrBytes(90).fits(&"가".repeat(46)));
    }

    #[test]
    fn every_kind_starts_with_its_tag_and_fits() {
        for kind in NoticeKind::ALL {
            for locale in [Locale::Ko, Locale::En] {
                let mut input = fire(kind, locale);
                input.now = FIRE + 3 * 86_400_000;
                let text = sms_text(&input);
                assert!(text.starts_with(kind.tag(locale)), "{text}");
                assert_fits(&text);
                let subject = email_subject(&input);
                assert!(subject.starts_with(kind.tag(locale)), "{subject}");
                let email = email_text(&input, "");
                assert!(
                    email.contains(LINK) && email.contains("Asia/Seoul"),
                    "{email}"
                );
            }
        }
        let text = sms_text(&fire(NoticeKind::StoreOffline, Locale::Ko));
        assert!(
            text.contains("카드 단말기를 LTE 라우터로 연결하세요."),
            "{text}"
        );
    }

    fn slow_pay(kind: NoticeKind, locale: Locale) -> NoticeInput {
        let mut input = fire(kind, locale);
        input.deps = vec![dep("카카오페이", "KakaoPay", Category::Payment)];
        input.slow = true;
        input
    }

    #[test]
    fn maintenance_has_its_own_tag_and_keeps_the_action_line() {
        let mut input = fire(NoticeKind::Down, Locale::Ko);
        input.maintenance = true;
        let text = sms_text(&input);
        assert!(text.starts_with("[점검] 사장님, 15:20부터"), "{text}");
        assert!(
            text.contains("점검 중입니다.") && text.contains("주문은 전화로"),
            "{text}"
        );
        input.locale = Locale::En;
        assert!(sms_text(&input).starts_with("[MAINTENANCE] "));
        input.kind = NoticeKind::Recovery;
        assert!(sms_text(&input).starts_with("[RECOVERED] "));
    }

    #[test]
    fn a_slowdown_has_its_own_words_never_an_outages() {
        let text = sms_text(&slow_pay(NoticeKind::Down, Locale::Ko));
        assert_fits(&text);
        assert_eq!(
            text,
            format!(
                "[느림] 사장님, 15:20부터 카카오페이가 느립니다. 결제가 늦으면 카드 단말기나 현금을 안내하세요. {LINK}"
            )
        );
        let en = sms_text(&slow_pay(NoticeKind::Down, Locale::En));
        assert_eq!(
            en,
            format!(
                "[SLOW] KakaoPay is slow (since 15:20). If payment hangs, offer the terminal or cash. {LINK}"
            )
        );
        let mut own = slow_pay(NoticeKind::Down, Locale::Ko);
        own.playbook_line = Some("전화로 주문 받기".into());
        assert!(
            sms_text(&own).contains("결제가 늦으면"),
            "an outage playbook does not answer a slowdown"
        );
        let mut back = slow_pay(NoticeKind::Recovery, Locale::Ko);
        back.outage = Some(Duration::from_secs(60));
        let text = sms_text(&back);
        assert!(
            text.starts_with("[복구] 사장님, 카카오페이 속도가 정상으로 돌아왔습니다(느림 1분)."),
            "{text}"
        );
        back.locale = Locale::En;
        assert!(
            sms_text(&back).starts_with("[RECOVERED] KakaoPay back to normal speed (slow 1m)."),
            "{}",
            sms_text(&back)
        );
        let email = email_text(&back, "");
        assert!(email.contains("Slow for: 1m"), "{email}");
        for kind in [NoticeKind::Down, NoticeKind::Relapse, NoticeKind::FollowUp] {
            for locale in [Locale::Ko, Locale::En] {
                let input = slow_pay(kind, locale);
                let text = sms_text(&input);
                let subject = email_subject(&input);
                let email = email_text(&input, "");
                for t in [&text, &subject, &email] {
                    assert!(!t.contains("장애") && !t.contains("down"), "{t}");
                    assert!(
                        t.contains("느림")
                            || t.contains("느립")
                            || t.contains("SLOW")
                            || t.contains("slow"),
                        "{t}"
                    );
                }
                assert!(text.starts_with(kind.slow_tag(locale)), "{text}");
                assert_fits(&text);
            }
        }
        let email = email_text(&slow_pay(NoticeKind::Down, Locale::Ko), "");
        assert!(
            email.contains("결제가 늦으면") && email.contains("멈추면 이렇게 하세요"),
            "the slowdown's line, then the playbook for when it stops: {email}"
        );
        let mut test = slow_pay(NoticeKind::Test, Locale::Ko);
        test.slow = true;
        assert!(sms_text(&test).starts_with("[테스트]"));
    }

    #[test]
    fn no_deps_still_reads() {
        let mut input = fire(NoticeKind::Down, Locale::En);
        input.deps.clear();
        let text = sms_text(&input);
        assert_eq!(
            text,
            format!("[DOWN] Service down since 15:20. Switch to manual ordering. {LINK}")
        );
        input.kind = NoticeKind::Test;
        input.locale = Locale::Ko;
        assert!(sms_text(&input).contains("테스트입니다. 장애가 나면"));
    }

    #[test]
    fn email_carries_the_whole_playbook() {
        let input = fire(NoticeKind::Down, Locale::Ko);
        let email = email_text(&input, "");
        assert!(email.contains("15:20부터 카카오톡, 카카오 로그인"));
        assert!(email.contains("- 카카오페이 (결제)"));
        assert!(email.contains(default_playbook_text(Category::Messenger, Locale::Ko)));
        let own = email_text(&input, "1. 가게 전화 02-123-4567로 주문");
        assert!(own.contains("1. 가게 전화 02-123-4567로 주문"));
        let mut input = fire(NoticeKind::Recovery, Locale::En);
        input.outage = Some(Duration::from_secs(127 * 3600));
        let email = email_text(&input, "");
        assert!(
            email.contains("Outage: 5d 7h") && email.contains("Damage report"),
            "{email}"
        );
        assert!(!email.contains("What to do now"));
    }

    #[test]
    fn every_category_has_texts() {
        for c in Category::ALL {
            for l in [Locale::Ko, Locale::En] {
                assert!(default_playbook_text(c, l).lines().count() >= 3);
                let line = default_playbook_line(c, l);
                assert!(
                    line.ends_with('.') && count_segments(line).units < 50,
                    "{line}"
                );
                let slow = slow_playbook_line(c, l);
                assert!(
                    slow.ends_with('.') && count_segments(slow).units < 50,
                    "{slow}"
                );
            }
        }
    }

    #[test]
    fn platform_word_and_particles() {
        assert_eq!(
            common_word(&["카카오톡", "카카오 로그인", "카카오페이"]).as_deref(),
            Some("카카오")
        );
        assert_eq!(
            common_word(&["KakaoTalk", "Kakao Map"]).as_deref(),
            Some("Kakao")
        );
        assert_eq!(
            common_word(&["Toss Payments", "Toss Place"]).as_deref(),
            Some("Toss")
        );
        assert_eq!(common_word(&["KT Internet", "KB Pay"]), None);
        assert_eq!(common_word(&["Naverland", "Navigator"]), None);
        assert_eq!(subject_particle("카카오톡"), "이");
        assert_eq!(subject_particle("카카오페이"), "가");
        assert_eq!(subject_particle("서비스 4개"), "가");
        assert_eq!(subject_particle("Toss"), "이(가)");
    }
}
