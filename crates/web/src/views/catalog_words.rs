//! The catalog's words on the pages: a dependency's plain line in the reader's language, its
//! technical detail (folded under "기술 정보"), and the customer centres to call, as `tel:`
//! links. The data is the catalog's ([`meoktong_domain::helpline::CatalogExtras`]); no page
//! template holds a phone number.
use crate::i18n::Lang;
use meoktong_domain::Category;
use meoktong_domain::helpline::{CatalogExtras, Helpline};
use meoktong_storage::entity::dependencies;

/// A customer centre as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub name: &'static str,
    pub phone: &'static str,
    pub href: String,
}

impl Call {
    fn of(l: Lang, h: &Helpline) -> Call {
        Call {
            name: h.name(l == Lang::En),
            phone: h.phone,
            href: h.tel_href(),
        }
    }
}

fn has_hangul(s: &str) -> bool {
    s.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
}

/// The plain line about a dependency in the reader's language; empty rather than Korean on
/// an English page.
pub fn description(l: Lang, extras: &CatalogExtras, d: &dependencies::Model) -> String {
    let ko = d.description.clone().unwrap_or_default();
    match l {
        Lang::Ko => ko,
        Lang::En => match extras.about.get(&d.slug) {
            Some(a) if !a.description_en.is_empty() => a.description_en.to_string(),
            _ if has_hangul(&ko) => String::new(),
            _ => ko,
        },
    }
}

/// How a dependency is checked, for the "기술 정보" fold; empty when the catalog says nothing.
pub fn technical(l: Lang, extras: &CatalogExtras, d: &dependencies::Model) -> &'static str {
    extras
        .about
        .get(&d.slug)
        .map(|a| l.t(a.technical, a.technical_en))
        .unwrap_or("")
}

/// The customer centre of one dependency, if the catalog names one.
pub fn call_for(l: Lang, extras: &CatalogExtras, d: &dependencies::Model) -> Option<Call> {
    extras
        .about
        .get(&d.slug)
        .and_then(|a| a.helpline.as_ref())
        .map(|h| Call::of(l, h))
}

/// The centres a playbook of `category` tells someone to call: the internet providers' for
/// the network (the store's own internet), else those of `deps` in that category, once each.
pub fn calls_for_category(
    l: Lang,
    extras: &CatalogExtras,
    category: Category,
    deps: &[&dependencies::Model],
) -> Vec<Call> {
    if category == Category::Network {
        return extras.isps.iter().map(|h| Call::of(l, h)).collect();
    }
    let mut out: Vec<Call> = Vec::new();
    for d in deps
        .iter()
        .filter(|d| Category::parse(&d.category).unwrap_or(Category::Other) == category)
    {
        if let Some(c) = call_for(l, extras, d)
            && !out.contains(&c)
        {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use meoktong_domain::helpline::About;

    fn dep(slug: &str, category: &str, description: &str) -> dependencies::Model {
        dependencies::Model {
            id: 1,
            slug: slug.into(),
            name: "이름".into(),
            name_en: None,
            category: category.into(),
            platform: None,
            description: Some(description.into()),
            source: "config".into(),
            owner_merchant_id: None,
            enabled: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn extras() -> CatalogExtras {
        let mut e = CatalogExtras::default();
        e.about.insert(
            "pay".into(),
            About {
                description_en: "Payments",
                technical: "API 호출",
                technical_en: "API call",
                helpline: Some(Helpline {
                    name: "결제 고객센터",
                    name_en: "Payments centre",
                    phone: "1644-0000",
                }),
            },
        );
        e.isps.push(Helpline {
            name: "KT",
            name_en: "KT",
            phone: "100",
        });
        e
    }

    #[test]
    fn english_pages_never_show_a_korean_line() {
        let e = extras();
        assert_eq!(
            description(Lang::En, &e, &dep("pay", "payment", "결제")),
            "Payments"
        );
        assert_eq!(
            description(Lang::En, &e, &dep("own", "other", "우리 API")),
            ""
        );
        assert_eq!(
            description(Lang::En, &e, &dep("own", "other", "Our API")),
            "Our API"
        );
        assert_eq!(
            description(Lang::Ko, &e, &dep("pay", "payment", "결제")),
            "결제"
        );
        assert_eq!(
            technical(Lang::En, &e, &dep("pay", "payment", "")),
            "API call"
        );
    }

    #[test]
    fn playbooks_call_the_isps_for_the_network_and_the_companies_otherwise() {
        let e = extras();
        let pay = dep("pay", "payment", "");
        let other = dep("own", "payment", "");
        let calls = calls_for_category(Lang::Ko, &e, Category::Payment, &[&pay, &other, &pay]);
        assert_eq!(
            calls,
            vec![Call {
                name: "결제 고객센터",
                phone: "1644-0000",
                href: "tel:16440000".into()
            }]
        );
        let net = calls_for_category(Lang::En, &e, Category::Network, &[&pay]);
        assert_eq!(net[0].href, "tel:100");
        assert!(calls_for_category(Lang::Ko, &e, Category::Map, &[&pay]).is_empty());
    }
}
