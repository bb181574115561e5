//! Durations in humantime syntax (`1500ms`, `2s`, `2m`), as strings in the file and environment.
use serde::{Deserialize, Deserializer, Serializer, de};
use std::time::Duration;

pub mod humantime_duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim()).map_err(|e| {
            de::Error::custom(format!(
                "`{text}` is not a duration ({e}); use e.g. 1500ms, 2s, 2m"
            ))
        })
    }
}

pub mod option_duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::humantime_duration::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::humantime_duration::deserialize(d).map(Some)
    }
}

pub mod duration_list {
    use super::*;

    pub fn serialize<S: Serializer>(list: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for d in list {
            seq.serialize_element(&humantime::format_duration(*d).to_string())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| {
                humantime::parse_duration(t.trim())
                    .map_err(|e| de::Error::custom(format!("`{t}` is not a duration ({e})")))
            })
            .collect()
    }
}
