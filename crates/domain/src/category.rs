//! Dependency categories: what a merchant uses the dependency for.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Messenger,
    Login,
    Payment,
    Map,
    Delivery,
    Network,
    Other,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Messenger,
        Category::Login,
        Category::Payment,
        Category::Map,
        Category::Delivery,
        Category::Network,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Messenger => "messenger",
            Category::Login => "login",
            Category::Payment => "payment",
            Category::Map => "map",
            Category::Delivery => "delivery",
            Category::Network => "network",
            Category::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}
