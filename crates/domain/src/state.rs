//! Dependency states as shown to merchants, operators and metrics.
use serde::{Deserialize, Serialize};

/// What we believe about a dependency right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DepState {
    #[default]
    Unknown,
    Up,
    Degraded,
    Down,
}

impl DepState {
    /// The value of the `meoktong_dependency_state` gauge: 0 unknown, 1 up, 2 degraded, 3 down.
    pub fn gauge_value(self) -> i64 {
        match self {
            DepState::Unknown => 0,
            DepState::Up => 1,
            DepState::Degraded => 2,
            DepState::Down => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DepState::Unknown => "unknown",
            DepState::Up => "up",
            DepState::Degraded => "degraded",
            DepState::Down => "down",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unknown" => DepState::Unknown,
            "up" => DepState::Up,
            "degraded" => DepState::Degraded,
            "down" => DepState::Down,
            _ => return None,
        })
    }
}

impl std::fmt::Display for DepState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_values_follow_the_metrics_contract() {
        assert_eq!(
            [
                DepState::Unknown,
                DepState::Up,
                DepState::Degraded,
                DepState::Down
            ]
            .map(DepState::gauge_value),
            [0, 1, 2, 3]
        );
    }

    #[test]
    fn parse_round_trips() {
        for s in [
            DepState::Unknown,
            DepState::Up,
            DepState::Degraded,
            DepState::Down,
        ] {
            assert_eq!(DepState::parse(s.as_str()), Some(s));
        }
        assert_eq!(DepState::parse("dead"), None);
    }
}
