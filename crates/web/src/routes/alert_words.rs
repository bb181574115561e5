//! What the alert page says, decided from what the notice told and how its incidents are now:
//! an outage, a slowdown, something back, a test, or the store's own internet. Pure, so each
//! state's words are unit-tested here and the page only fills them in.
use crate::i18n::Lang;
use meoktong_domain::duration_text::Locale;
use meoktong_domain::message::NoticeKind;

/// The state the page shows: the notice's kind, moved on by what happened since it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageState {
    /// Something the merchant relies on is down now.
    Down,
    /// Slow (every incident told is `degraded`), not down.
    Slow,
    /// It is back: a recovery notice, or an alert whose incidents have all ended since.
    Back {
        slow: bool,
    },
    /// A test the merchant asked for.
    Test,
    /// The store's own internet (its heartbeat stopped).
    StoreOffline,
    StoreBack,
}

impl PageState {
    /// `kind` as sent, `slow` when every incident told is a slowdown, `ended` when every
    /// incident told has been resolved by now.
    pub fn of(kind: NoticeKind, slow: bool, ended: bool) -> PageState {
        use NoticeKind::*;
        match kind {
            // A broadcast's notice has a link token nobody is sent; if one were opened, it is
            // no outage.
            Test | Broadcast => PageState::Test,
            StoreBack => PageState::StoreBack,
            StoreOffline if ended => PageState::StoreBack,
            StoreOffline => PageState::StoreOffline,
            Recovery | PartialRecovery => PageState::Back { slow },
            Down | Relapse | FollowUp if ended => PageState::Back { slow },
            Down | Relapse | FollowUp if slow => PageState::Slow,
            Down | Relapse | FollowUp => PageState::Down,
        }
    }

    /// The bracketed tag of the page's heading, as an SMS of this state would begin.
    pub fn tag(self, kind: NoticeKind, locale: Locale) -> &'static str {
        match self {
            PageState::Down => kind.tag(locale),
            PageState::Slow => kind.slow_tag(locale),
            PageState::Back { .. } if kind == NoticeKind::PartialRecovery => kind.tag(locale),
            PageState::Back { .. } => NoticeKind::Recovery.tag(locale),
            PageState::Test => NoticeKind::Test.tag(locale),
            PageState::StoreOffline => NoticeKind::StoreOffline.tag(locale),
            PageState::StoreBack => NoticeKind::StoreBack.tag(locale),
        }
    }

    /// The page's class for this state (`state-…`).
    pub fn css_class(self) -> &'static str {
        match self {
            PageState::Down => "down",
            PageState::Slow => "slow",
            PageState::Back { .. } | PageState::StoreBack => "back",
            PageState::Test => "test",
            PageState::StoreOffline => "store-offline",
        }
    }

    pub fn is_back(self) -> bool {
        matches!(self, PageState::Back { .. } | PageState::StoreBack)
    }

    /// Still going on: the page refreshes itself to show when it ends.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            PageState::Down | PageState::Slow | PageState::StoreOffline
        )
    }

    /// Offers the manual order sheet and the playbook.
    pub fn wants_playbook(self) -> bool {
        self.is_live()
    }

    /// Offers the damage report (not for a store's own internet: that is no one else's fault).
    pub fn offers_report(self) -> bool {
        matches!(self, PageState::Back { .. })
    }
}

/// Every text of the page that depends on its state, in the reader's language.
pub struct Words {
    /// A sentence under the heading, saying plainly what this is (may be empty).
    pub lead: &'static str,
    /// Above the list of what the notice told about.
    pub list_heading: &'static str,
    /// `복구되었습니다.` and the like, for a state that is back (else empty).
    pub back: &'static str,
    /// The length label beside [`Words::back`]: `장애 시간`, `느렸던 시간`, `끊긴 시간`.
    pub outage: &'static str,
    pub ack_button: &'static str,
    pub ack_hint: &'static str,
    /// Above each playbook: what to do now, or (slow) what to do if it stops altogether.
    pub playbook_heading: &'static str,
}

impl Words {
    pub fn new(l: Lang, state: PageState) -> Words {
        let ack_hint = l.t(
            "누르면 이 알림의 추가 연락(다음 연락처, 이메일)을 멈춥니다.",
            "Pressing this stops further alerts for this incident (next contact, email).",
        );
        let outage = l.t("장애 시간", "Outage");
        let playbook_heading = match state {
            PageState::Slow => l.t("멈추면 할 일", "If it stops altogether"),
            _ => l.t("지금 할 일", "What to do now"),
        };
        match state {
            PageState::Down => Words {
                lead: "",
                list_heading: l.t("지금 안 되는 서비스", "What is down now"),
                back: "",
                outage,
                ack_button: l.t(
                    "수동 주문으로 전환했어요",
                    "I've switched to manual ordering",
                ),
                ack_hint,
                playbook_heading,
            },
            PageState::Slow => Words {
                lead: l.t(
                    "멈춘 것이 아니라 느려졌습니다. 결제나 주문이 늦어질 수 있어요.",
                    "Not down, but slow: payments and orders may take longer.",
                ),
                list_heading: l.t("지금 느린 서비스", "What is slow now"),
                back: "",
                outage,
                ack_button: l.t("확인했어요", "Got it"),
                ack_hint,
                playbook_heading,
            },
            PageState::Back { slow } => Words {
                lead: "",
                list_heading: if slow {
                    l.t("느렸던 서비스", "What was slow")
                } else {
                    l.t("장애가 있었던 서비스", "What was down")
                },
                back: if slow {
                    l.t(
                        "속도가 정상으로 돌아왔습니다.",
                        "Back to normal speed.",
                    )
                } else {
                    l.t("복구되었습니다.", "It's back.")
                },
                outage: if slow {
                    l.t("느렸던 시간", "Slow for")
                } else {
                    outage
                },
                ack_button: "",
                ack_hint: "",
                playbook_heading,
            },
            PageState::Test => Words {
                lead: l.t(
                    "테스트 알림이 잘 도착했어요. 실제 장애가 아닙니다. 장애가 나면 이 페이지에 안 되는 서비스와 지금 할 일이 나옵니다.",
                    "Your test alert arrived. Nothing is down. In a real outage this page shows what is down and what to do.",
                ),
                list_heading: l.t("알림을 받는 서비스", "Services you are alerted about"),
                back: "",
                outage,
                ack_button: l.t("알림 잘 받았어요", "I got it"),
                ack_hint: l.t(
                    "누르면 이 테스트가 확인된 것으로 기록됩니다.",
                    "Pressing this records the test as received.",
                ),
                playbook_heading,
            },
            PageState::StoreOffline => Words {
                lead: l.t(
                    "매장 포스·라우터의 신호가 끊겼습니다. 매장 인터넷이 안 되는 것 같아요. 카드 단말기를 LTE 라우터나 휴대폰 핫스팟에 연결하세요.",
                    "The store's POS or router stopped checking in: the store's internet looks down. Connect the card terminal to the LTE router or a phone hotspot.",
                ),
                list_heading: "",
                back: "",
                outage,
                ack_button: l.t("LTE로 전환했어요", "I've switched to LTE"),
                ack_hint,
                playbook_heading,
            },
            PageState::StoreBack => Words {
                lead: "",
                list_heading: "",
                back: l.t(
                    "매장 인터넷이 다시 연결되었습니다.",
                    "The store's internet is back.",
                ),
                outage: l.t("끊긴 시간", "Offline for"),
                ack_button: "",
                ack_hint: "",
                playbook_heading,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_moves_on_with_its_incidents() {
        use NoticeKind::*;
        assert_eq!(PageState::of(Down, false, false), PageState::Down);
        assert_eq!(PageState::of(Down, true, false), PageState::Slow);
        assert_eq!(
            PageState::of(FollowUp, false, true),
            PageState::Back { slow: false }
        );
        assert_eq!(
            PageState::of(Relapse, true, true),
            PageState::Back { slow: true }
        );
        assert_eq!(
            PageState::of(StoreOffline, false, true),
            PageState::StoreBack
        );
        assert_eq!(PageState::of(Test, false, true), PageState::Test);
        assert_eq!(
            PageState::of(Down, false, true).tag(Down, Locale::Ko),
            "[복구]"
        );
        assert_eq!(PageState::Slow.tag(Down, Locale::Ko), "[느림]");
    }

    #[test]
    fn only_an_outage_says_what_is_down_now() {
        let states = [
            PageState::Slow,
            PageState::Back { slow: false },
            PageState::Back { slow: true },
            PageState::Test,
            PageState::StoreOffline,
            PageState::StoreBack,
        ];
        for s in states {
            let w = Words::new(Lang::Ko, s);
            assert_ne!(w.list_heading, "지금 안 되는 서비스", "{s:?}");
            assert_ne!(w.ack_button, "수동 주문으로 전환했어요", "{s:?}");
        }
        assert_eq!(
            Words::new(Lang::Ko, PageState::Down).list_heading,
            "지금 안 되는 서비스"
        );
        assert!(
            Words::new(Lang::Ko, PageState::StoreOffline)
                .lead
                .contains("LTE")
        );
        assert_eq!(
            Words::new(Lang::Ko, PageState::Back { slow: false }).back,
            "복구되었습니다."
        );
    }
}
