//! What the pages say about a catalog entry beyond its name: a plain line in each language,
//! the technical detail kept behind a "기술 정보" fold, and the customer centre a playbook
//! tells a merchant to call. The data is the catalog's (`meoktong_probe::presets`); these are
//! its shapes, so the web pages can show it without knowing the probes.
use std::collections::BTreeMap;

/// A customer centre someone may be told to call (an ISP's, a payment company's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Helpline {
    /// `카카오페이 고객센터`.
    pub name: &'static str,
    pub name_en: &'static str,
    /// As people dial it in Korea: `1644-7405`, `100`.
    pub phone: &'static str,
}

impl Helpline {
    /// The name in the reader's language.
    pub fn name(&self, en: bool) -> &'static str {
        if en { self.name_en } else { self.name }
    }

    /// `tel:16447405`: digits only, so every phone dials it.
    pub fn tel_href(&self) -> String {
        let digits: String = self.phone.chars().filter(char::is_ascii_digit).collect();
        format!("tel:{digits}")
    }

    /// A number a Korean phone can dial: a short code (`100`, `106`), a national
    /// representative number (`1588-xxxx`, `1644-xxxx`) or an area-code number.
    pub fn is_dialable(&self) -> bool {
        let digits: String = self.phone.chars().filter(char::is_ascii_digit).collect();
        let only_digits_and_dashes = self.phone.chars().all(|c| c.is_ascii_digit() || c == '-');
        let representative =
            digits.len() == 8 && ["15", "16", "18"].iter().any(|p| digits.starts_with(p));
        let short_code = (3..=4).contains(&digits.len()) && !digits.starts_with('0');
        let landline = digits.starts_with('0') && (9..=11).contains(&digits.len());
        only_digits_and_dashes && (representative || short_code || landline)
    }
}

/// The extra words about one catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct About {
    /// The plain line, in English (the Korean one is the entry's `description`).
    pub description_en: &'static str,
    /// How it is checked, for the curious: shown folded, never as the main text.
    pub technical: &'static str,
    pub technical_en: &'static str,
    pub helpline: Option<Helpline>,
}

/// Everything the catalog says beyond names and checks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatalogExtras {
    /// By dependency slug.
    pub about: BTreeMap<String, About>,
    /// The internet providers' customer centres (for a store whose own internet is down).
    pub isps: Vec<Helpline>,
}

#[cfg(test)]
mod tests {
    use super::Helpline;

    fn h(phone: &'static str) -> Helpline {
        Helpline {
            name: "x",
            name_en: "x",
            phone,
        }
    }

    #[test]
    fn numbers_dial_as_digits() {
        assert_eq!(h("1644-7405").tel_href(), "tel:16447405");
        assert_eq!(h("100").tel_href(), "tel:100");
    }

    #[test]
    fn only_numbers_a_korean_phone_can_dial_are_dialable() {
        for ok in ["100", "106", "1644-7405", "1588-3820", "02-123-4567"] {
            assert!(h(ok).is_dialable(), "{ok}");
        }
        for bad in ["", "12", "1644-740", "+82 1644", "call us", "010-1234"] {
            assert!(!h(bad).is_dialable(), "{bad}");
        }
    }
}
