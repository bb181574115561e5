//! The text columns of the outbox and of notices, as types: one spelling each, mapped to the
//! values the migrations created (no data migration), and an unknown value is an error, never a
//! guess.
use crate::StorageError;

macro_rules! column_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The type of a stored value; an unknown one is an error naming it.
            pub fn parse(s: &str) -> Result<$name, StorageError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(StorageError::Data(format!(
                        concat!("unknown ", $what, " {:?}"),
                        other
                    ))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$name> for sea_orm::Value {
            fn from(v: $name) -> sea_orm::Value {
                v.as_str().into()
            }
        }
    };
}

column_enum! {
    /// How a message leaves: `outbox.channel`.
    Channel, "channel" {
        Sms = "sms",
        Email = "email",
        Webhook = "webhook",
        /// An alert call (`[voice]`); `provider_message_id` is the call's sid.
        Voice = "voice",
    }
}

column_enum! {
    /// Where a message is in its life: `outbox.state`.
    MessageState, "message state" {
        /// A fallback not yet due.
        Waiting = "waiting",
        /// Due at `next_attempt_at`.
        Pending = "pending",
        /// Claimed; the claim expires so a crashed process's work is taken over.
        Sending = "sending",
        /// The provider took it.
        Accepted = "accepted",
        Delivered = "delivered",
        Failed = "failed",
        Expired = "expired",
        /// Acknowledged, or a fallback no longer needed.
        Cancelled = "cancelled",
    }
}

column_enum! {
    /// Whether a notice still waits for someone: `notices.status`.
    NoticeStatus, "notice status" {
        /// Waiting for an acknowledgement (and escalating when none comes).
        Open = "open",
        /// Needs none (recovery, test), or the outage it was about is over.
        Closed = "closed",
        Acked = "acked",
        /// No acknowledgement and no further contact.
        Exhausted = "exhausted",
    }
}

impl MessageState {
    /// Still to be sent (the queue's depth counts these).
    pub fn is_queued(self) -> bool {
        matches!(self, MessageState::Pending | MessageState::Sending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_and_unknown_ones_are_errors() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()).ok(), Some(*c));
        }
        for s in MessageState::ALL {
            assert_eq!(MessageState::parse(s.as_str()).ok(), Some(*s));
        }
        for s in NoticeStatus::ALL {
            assert_eq!(NoticeStatus::parse(s.as_str()).ok(), Some(*s));
        }
        assert!(Channel::parse("fax").is_err());
        assert!(MessageState::parse("Pending").is_err());
        assert!(NoticeStatus::parse("").is_err());
    }
}
