//! The fixed lists a report chooses from: 시/도, trades (업종) and kinds of damage.
//!
//! Regions are stored by their official Korean name (what a claim form names); trades and
//! kinds by a stable code, shown in the reader's language.
use crate::i18n::Lang;

#[derive(Debug, Clone, Copy)]
pub struct Choice {
    /// What is stored.
    pub code: &'static str,
    pub ko: &'static str,
    pub en: &'static str,
}

impl Choice {
    pub fn label(&self, lang: Lang) -> &'static str {
        lang.t(self.ko, self.en)
    }
}

const fn c(code: &'static str, ko: &'static str, en: &'static str) -> Choice {
    Choice { code, ko, en }
}

/// The 17 first-level administrative divisions (시/도).
pub const SIDO: [Choice; 17] = [
    c("서울특별시", "서울특별시", "Seoul"),
    c("부산광역시", "부산광역시", "Busan"),
    c("대구광역시", "대구광역시", "Daegu"),
    c("인천광역시", "인천광역시", "Incheon"),
    c("광주광역시", "광주광역시", "Gwangju"),
    c("대전광역시", "대전광역시", "Daejeon"),
    c("울산광역시", "울산광역시", "Ulsan"),
    c("세종특별자치시", "세종특별자치시", "Sejong"),
    c("경기도", "경기도", "Gyeonggi"),
    c("강원특별자치도", "강원특별자치도", "Gangwon"),
    c("충청북도", "충청북도", "North Chungcheong"),
    c("충청남도", "충청남도", "South Chungcheong"),
    c("전북특별자치도", "전북특별자치도", "Jeonbuk"),
    c("전라남도", "전라남도", "South Jeolla"),
    c("경상북도", "경상북도", "North Gyeongsang"),
    c("경상남도", "경상남도", "South Gyeongsang"),
    c("제주특별자치도", "제주특별자치도", "Jeju"),
];

/// Short and former names, as merchants write them (`서울 마포구`, `강원도 춘천시`).
const SIDO_ALIASES: [(&str, &str); 20] = [
    ("서울", "서울특별시"),
    ("부산", "부산광역시"),
    ("대구", "대구광역시"),
    ("인천", "인천광역시"),
    ("광주", "광주광역시"),
    ("대전", "대전광역시"),
    ("울산", "울산광역시"),
    ("세종", "세종특별자치시"),
    ("경기", "경기도"),
    ("강원", "강원특별자치도"),
    ("강원도", "강원특별자치도"),
    ("충북", "충청북도"),
    ("충남", "충청남도"),
    ("전북", "전북특별자치도"),
    ("전라북도", "전북특별자치도"),
    ("전남", "전라남도"),
    ("경북", "경상북도"),
    ("경남", "경상남도"),
    ("제주", "제주특별자치도"),
    ("제주도", "제주특별자치도"),
];

pub const TRADES: [Choice; 11] = [
    c("restaurant", "음식점", "Restaurant"),
    c("cafe", "카페·베이커리", "Café / bakery"),
    c("delivery", "배달 전문점", "Delivery-only kitchen"),
    c("retail", "소매·편의점", "Retail / convenience store"),
    c("beauty", "미용·뷰티", "Hair / beauty"),
    c("lodging", "숙박", "Lodging"),
    c("education", "교육·학원", "Education"),
    c("health", "병원·약국", "Clinic / pharmacy"),
    c(
        "transport",
        "운수·대리운전",
        "Transport / designated driving",
    ),
    c("service", "생활 서비스", "Personal services"),
    c("other", "기타", "Other"),
];

pub const KINDS: [Choice; 5] = [
    c("lost_orders", "주문 누락·유실", "Lost orders"),
    c("failed_payments", "결제 실패", "Failed payments"),
    c("delivery_failures", "배달·배차 실패", "Delivery failures"),
    c(
        "customer_complaints",
        "고객 불만·환불",
        "Customer complaints / refunds",
    ),
    c("other", "기타", "Other"),
];

pub fn find(list: &[Choice], code: &str) -> Option<Choice> {
    list.iter().copied().find(|c| c.code == code)
}

/// The label of a stored code, or the code itself if the list no longer has it.
pub fn label(list: &[Choice], code: &str, lang: Lang) -> String {
    find(list, code)
        .map(|c| c.label(lang).to_string())
        .unwrap_or_else(|| code.to_string())
}

/// A merchant's free-text region split into an official 시/도 and the rest (시/군/구).
pub fn split_region(region: &str) -> (Option<&'static str>, String) {
    let region = region.trim();
    let (first, rest) = region
        .split_once(char::is_whitespace)
        .unwrap_or((region, ""));
    let sido = SIDO
        .iter()
        .find(|c| c.code == first)
        .map(|c| c.code)
        .or_else(|| {
            SIDO_ALIASES
                .iter()
                .find(|(alias, _)| *alias == first)
                .map(|(_, full)| *full)
        });
    match sido {
        Some(s) => (Some(s), rest.trim().to_string()),
        None => (None, region.to_string()),
    }
}

/// A merchant's free-text trade mapped onto the list (by code or either label).
pub fn match_trade(trade: &str) -> Option<&'static str> {
    let t = trade.trim();
    TRADES
        .iter()
        .find(|c| c.code == t || c.ko == t || c.en.eq_ignore_ascii_case(t))
        .map(|c| c.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merchant_regions_map_onto_official_names() {
        assert_eq!(
            split_region("서울 마포구"),
            (Some("서울특별시"), "마포구".to_string())
        );
        assert_eq!(
            split_region("경기도 성남시 분당구"),
            (Some("경기도"), "성남시 분당구".to_string())
        );
        assert_eq!(
            split_region("강원도 춘천시"),
            (Some("강원특별자치도"), "춘천시".to_string())
        );
        assert_eq!(
            split_region("세종"),
            (Some("세종특별자치시"), String::new())
        );
        assert_eq!(
            split_region("Springfield"),
            (None, "Springfield".to_string())
        );
        assert_eq!(match_trade("음식점"), Some("restaurant"));
        assert_eq!(match_trade("restaurant"), Some("restaurant"));
        assert_eq!(match_trade("우주선"), None);
        assert_eq!(label(&TRADES, "cafe", Lang::Ko), "카페·베이커리");
        assert_eq!(label(&KINDS, "gone", Lang::En), "gone");
    }
}
